"""Training-job reads: one job, filtered lists, and the newest jobs per series."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tables import TrainingJob
from app.enums import JobStatus, ModelType
from app.services.models.series import SeriesKey, newest_per_series


async def get(session: AsyncSession, job_id: uuid.UUID) -> TrainingJob | None:
    return await session.get(TrainingJob, job_id)


async def list_jobs(
    session: AsyncSession,
    *,
    machine_id: uuid.UUID | None = None,
    model_type: ModelType | None = None,
    statuses: Sequence[JobStatus] | None = None,
    limit: int,
) -> Sequence[TrainingJob]:
    query = sa.select(TrainingJob).order_by(TrainingJob.created_at.desc(), TrainingJob.id).limit(limit)
    if machine_id is not None:
        query = query.where(TrainingJob.machine_id == machine_id)
    if model_type is not None:
        query = query.where(TrainingJob.model_type == model_type)
    if statuses:
        query = query.where(TrainingJob.status.in_(statuses))
    return (await session.scalars(query)).all()


async def jobs_of_series(
    session: AsyncSession, keys: Sequence[SeriesKey], limit: int
) -> dict[SeriesKey, list[TrainingJob]]:
    order = (TrainingJob.created_at.desc(), TrainingJob.id)
    return await newest_per_series(session, TrainingJob, keys, order, limit)
