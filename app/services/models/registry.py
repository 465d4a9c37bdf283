"""Model registry reads: versions and champions per series."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from app.db.tables import ChampionChange, ModelVersion
from app.enums import ModelType, VersionStage
from app.errors import Conflict, InvalidInput, NotFound
from app.services.checks import require_text
from app.services.models.series import SeriesKey, newest_per_series

MAX_REASON_LENGTH = 1_000


async def get_version(session: AsyncSession, version_id: uuid.UUID) -> ModelVersion | None:
    return await session.get(ModelVersion, version_id)


#: What reads for display leave out: the fitted model and its training profile, the largest columns of a
#: version, which the API never shows (a version loaded this way cannot be used to predict).
WITHOUT_MODEL = (defer(ModelVersion.artifact), defer(ModelVersion.reference_profile))


async def get_versions(session: AsyncSession, version_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ModelVersion]:
    """Versions for display (``WITHOUT_MODEL``)."""
    rows = await session.scalars(
        sa.select(ModelVersion).options(*WITHOUT_MODEL).where(ModelVersion.id.in_(version_ids))
    )
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
    """Champions for display (``WITHOUT_MODEL``)."""
    machine_ids = {machine_id for machine_id, _ in keys}
    rows = await session.scalars(
        sa.select(ModelVersion)
        .options(*WITHOUT_MODEL)
        .where(ModelVersion.machine_id.in_(machine_ids), ModelVersion.stage == VersionStage.CHAMPION)
    )
    return {(row.machine_id, row.model_type): row for row in rows}


async def versions_of_series(
    session: AsyncSession, keys: Sequence[SeriesKey], limit: int
) -> dict[SeriesKey, list[ModelVersion]]:
    """The newest ``limit`` versions of each series, for display (``WITHOUT_MODEL``)."""
    return await newest_per_series(
        session, ModelVersion, keys, (ModelVersion.version.desc(),), limit, options=WITHOUT_MODEL
    )


async def next_version_number(session: AsyncSession, machine_id: uuid.UUID, model_type: ModelType) -> int:
    """Versions count 1..n per series; one active job per series makes max + 1 race-free (the unique key backs it)."""
    current = await session.scalar(
        sa.select(sa.func.max(ModelVersion.version)).where(
            ModelVersion.machine_id == machine_id, ModelVersion.model_type == model_type
        )
    )
    return (current or 0) + 1


async def champion_of(session: AsyncSession, machine_id: uuid.UUID, model_type: ModelType) -> ModelVersion | None:
    return await session.scalar(
        sa.select(ModelVersion).where(
            ModelVersion.machine_id == machine_id,
            ModelVersion.model_type == model_type,
            ModelVersion.stage == VersionStage.CHAMPION,
        )
    )


async def make_champion(session: AsyncSession, version: ModelVersion, by: str | None, reason: str) -> ChampionChange:
    """Archive the current champion and crown ``version``, recording the change.

    The old champion is archived first: the partial unique index allows one champion per series at
    any moment, including between two statements of this transaction.
    """
    previous = await champion_of(session, version.machine_id, version.model_type)
    if previous is not None and previous.id != version.id:
        previous.stage = VersionStage.ARCHIVED
        await session.flush()
    version.stage = VersionStage.CHAMPION
    change = ChampionChange(
        machine_id=version.machine_id,
        model_type=version.model_type,
        from_version_id=previous.id if previous is not None else None,
        to_version_id=version.id,
        changed_by=by,
        reason=reason,
    )
    session.add(change)
    await session.flush()
    return change


async def promote(session: AsyncSession, version_id: uuid.UUID, by: str | None, reason: str | None) -> ModelVersion:
    """Make any version of a series its champion by hand; promoting an older one is a rollback."""
    require_text("reason", reason, MAX_REASON_LENGTH)
    version = await session.get(ModelVersion, version_id, with_for_update=True)
    if version is None:
        raise NotFound(f"model version {version_id} does not exist", field="id")
    if version.stage == VersionStage.CHAMPION:
        raise Conflict(f"version {version.version} is already the champion", field="id")
    current = await champion_of(session, version.machine_id, version.model_type)
    kind = "rollback" if current is not None and version.version < current.version else "promotion"
    await make_champion(session, version, by, reason or f"manual {kind}")
    return version


async def champion_history(
    session: AsyncSession, keys: Sequence[SeriesKey], limit: int
) -> dict[SeriesKey, list[ChampionChange]]:
    order = (ChampionChange.changed_at.desc(), ChampionChange.id)
    return await newest_per_series(session, ChampionChange, keys, order, limit)
