"""The audit log: who ran which mutation on what, when, and how it ended.

Entries are written by the API: a mutation's entry in the mutation's own transaction when it
succeeds, in a statement of its own when it failed and rolled back, so that failure is on record
too. They hold identifiers and outcome codes only, never argument values, so no token or other
secret can end up here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tables import AuditEntry, core_table
from app.services.checks import require_text

OUTCOME_OK = "ok"
MAX_FILTER_LENGTH = 200


@dataclass(frozen=True)
class AuditRecord:
    actor: str | None
    operation: str
    outcome: str
    target_ids: Sequence[uuid.UUID] = ()
    details: dict[str, Any] = field(default_factory=dict)


#: Built once; the entries are the parameters of its execution.
_INSERT = sa.insert(core_table(AuditEntry))


async def record(session: AsyncSession, records: Sequence[AuditRecord]) -> None:
    """One INSERT without RETURNING: nothing of the new rows is read back, so no ORM objects are made."""
    await session.execute(
        _INSERT,
        [
            {
                "actor": item.actor,
                "operation": item.operation,
                "outcome": item.outcome,
                "target_ids": [str(target) for target in dict.fromkeys(item.target_ids)],
                "details": item.details,
            }
            for item in records
        ],
    )


async def list_entries(
    session: AsyncSession, *, limit: int, operation: str | None = None, actor: str | None = None
) -> Sequence[AuditEntry]:
    """Newest first, optionally narrowed to one operation and/or one actor (exact names)."""
    require_text("operation", operation, MAX_FILTER_LENGTH)
    require_text("actor", actor, MAX_FILTER_LENGTH)
    query = sa.select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if operation is not None:
        query = query.where(AuditEntry.operation == operation)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    return (await session.scalars(query)).all()
