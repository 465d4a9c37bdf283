from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from app.db import tables
from graphql_schema.engine.context import Info
from graphql_schema.types.versions import ModelVersion


@strawberry.type(description="One change of a series' champion: automatic after training, or by hand.")
class ChampionChange:
    id: uuid.UUID
    changed_at: datetime
    changed_by: str | None
    reason: str
    from_version_id: strawberry.Private[uuid.UUID | None]
    to_version_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def from_version(self, info: Info) -> ModelVersion | None:
        if self.from_version_id is None:
            return None
        row = await info.context.loaders.version.load(self.from_version_id)
        return ModelVersion.from_row(row) if row else None

    @strawberry.field
    async def to_version(self, info: Info) -> ModelVersion:
        return ModelVersion.from_row(await info.context.loaders.version.load(self.to_version_id))

    @classmethod
    def from_row(cls, row: tables.ChampionChange) -> ChampionChange:
        return cls(
            id=row.id,
            changed_at=row.changed_at,
            changed_by=row.changed_by,
            reason=row.reason,
            from_version_id=row.from_version_id,
            to_version_id=row.to_version_id,
        )
