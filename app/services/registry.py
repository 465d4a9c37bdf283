"""Model registry reads: versions and champions per series."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import ModelType, VersionStage
from app.errors import InvalidInput, NotFound
from app.services.series import SeriesKey, newest_per_series
from app.tables import ModelVersion


async def get_version(session: AsyncSession, version_id: uuid.UUID) -> ModelVersion | None:
    return await session.get(ModelVersion, version_id)


async def get_versions(session: AsyncSession, version_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ModelVersion]:
    rows = await session.scalars(sa.select(ModelVersion).where(ModelVersion.id.in_(version_ids)))
    return {row.id: row for row in rows}


async def require_version_of_series(
    session: AsyncSession,
    version_id: uuid.UUID,
    machine_id: uuid.UUID,
    model_type: ModelType,
    field: str = "modelVersionId",
) -> ModelVersion:
    version = await get_version(session, version_id)
    if version is None:
        raise NotFound(f"model version {version_id} does not exist", field=field)
    if version.machine_id != machine_id or version.model_type != model_type:
        raise InvalidInput(
            f"model version {version_id} belongs to another series, not {model_type.name} of machine {machine_id}",
            field=field,
        )
    return version


async def champions(session: AsyncSession, keys: Sequence[SeriesKey]) -> dict[SeriesKey, ModelVersion]:
    machine_ids = {machine_id for machine_id, _ in keys}
    rows = await session.scalars(
        sa.select(ModelVersion).where(
            ModelVersion.machine_id.in_(machine_ids), ModelVersion.stage == VersionStage.CHAMPION
        )
    )
    return {(row.machine_id, row.model_type): row for row in rows}


async def versions_of_series(
    session: AsyncSession, keys: Sequence[SeriesKey], limit: int
) -> dict[SeriesKey, list[ModelVersion]]:
    return await newest_per_series(session, ModelVersion, keys, (ModelVersion.version.desc(),), limit)
