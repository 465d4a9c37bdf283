"""Live alerts for subscribers: with ``since``, a replay from the database first, then live ones.

The feed subscribes to this process's event hub *before* reading the database, so nothing published in
between is lost. Each (alert, severity) is yielded once: an escalation is news, a repeat (the replay
overlapping the live stream, a re-read after a bus reconnection) is not.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from app.constants import ALERTS_CHANNEL
from app.db import tables
from app.enums import SEVERITY_RANK, ModelType, Severity
from app.runtime.events import Event, Reconnected
from app.runtime.resources import Resources
from app.services.checks import require_aware
from app.services.snapshots import LiveRow, restore


@dataclass(frozen=True, slots=True)
class _Alert:
    """An alert row with what each subscriber's filter reads as plain attributes.

    Reading an ORM attribute costs about a microsecond; a live event is filtered by every subscriber.
    """

    row: tables.Alert
    #: Each (alert, severity) is delivered once.
    key: tuple[uuid.UUID, str]
    machine_id: uuid.UUID
    model_type: ModelType
    rank: int
    created_at: datetime

    @classmethod
    def of(cls, row: tables.Alert) -> _Alert:
        return cls(
            row=row,
            key=(row.id, row.severity.value),
            machine_id=row.machine_id,
            model_type=row.model_type,
            rank=SEVERITY_RANK[row.severity],
            created_at=row.created_at,
        )


def _live_alert(event: Event) -> _Alert:
    """Every subscriber of a process receives the same Event object: rebuild its row once, not per subscriber."""
    return event.derive(_Alert, lambda event: _Alert.of(restore(tables.Alert, event.payload)))


async def follow(
    resources: Resources,
    *,
    machine_id: uuid.UUID | None = None,
    model_type: ModelType | None = None,
    min_severity: Severity | None = None,
    since: datetime | None = None,
) -> AsyncGenerator[LiveRow[tables.Alert], None]:
    """Matching alerts, new and escalated; with ``since``, those created after it first, oldest first."""
    require_aware("since", since)
    subscription = await resources.hub.subscribe(ALERTS_CHANNEL)
    floor = SEVERITY_RANK[min_severity] if min_severity is not None else 0
    delivered: set[tuple[uuid.UUID, str]] = set()
    newest = since or datetime.now(UTC)

    def accept(alert: _Alert) -> bool:
        """Whether this subscriber shows ``alert``; if so, it counts as shown from now on."""
        nonlocal newest
        if (
            (machine_id is not None and alert.machine_id != machine_id)
            or (model_type is not None and alert.model_type != model_type)
            or alert.rank < floor
            or alert.key in delivered
        ):
            return False
        delivered.add(alert.key)
        newest = max(newest, alert.created_at)
        return True

    async def created_after(instant: datetime) -> list[_Alert]:
        query = sa.select(tables.Alert).where(tables.Alert.created_at > instant)
        if machine_id is not None:
            query = query.where(tables.Alert.machine_id == machine_id)
        if model_type is not None:
            query = query.where(tables.Alert.model_type == model_type)
        async with resources.reads() as session:
            rows = await session.scalars(query.order_by(tables.Alert.created_at, tables.Alert.id))
            return [_Alert.of(row) for row in rows]

    try:
        backlog = await created_after(since) if since is not None else []
        while True:
            for alert in backlog:
                if accept(alert):
                    yield LiveRow(alert.row)
            item = await subscription.next()
            if isinstance(item, Reconnected):
                backlog = await created_after(newest)
                continue
            backlog = []
            alert = _live_alert(item)
            if accept(alert):
                yield LiveRow(alert.row, item)
    finally:
        subscription.close()
