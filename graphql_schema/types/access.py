"""API tokens and audit entries as administrators see them (a token's secret is never readable)."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app.db import tables
from graphql_schema.enums import Role


@strawberry.type
class ApiToken:
    id: uuid.UUID
    name: str
    role: Role
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None = strawberry.field(description="Updated at most once a minute.")
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: tables.ApiToken) -> ApiToken:
        return cls(
            id=row.id,
            name=row.name,
            role=row.role,
            created_at=row.created_at,
            created_by=row.created_by,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="One root field of one mutation: who ran it, on what, and how it ended.")
class AuditEntry:
    id: strawberry.ID
    at: datetime
    actor: str | None
    operation: str = strawberry.field(description="The mutation field, e.g. triggerRetrain.")
    target_ids: list[uuid.UUID]
    outcome: str = strawberry.field(description="ok, or the error code the caller received.")
    details: JSON

    @classmethod
    def from_row(cls, row: tables.AuditEntry) -> AuditEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            actor=row.actor,
            operation=row.operation,
            target_ids=[uuid.UUID(target) for target in row.target_ids],
            outcome=row.outcome,
            details=JSON(row.details),
        )
