"""Monitoring results: drift reports of a series."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import ModelType
from app.tables import DriftReport


async def drift_reports(
    session: AsyncSession, machine_id: uuid.UUID, model_type: ModelType, limit: int
) -> Sequence[DriftReport]:
    query = (
        sa.select(DriftReport)
        .where(DriftReport.machine_id == machine_id, DriftReport.model_type == model_type)
        .order_by(DriftReport.checked_at.desc(), DriftReport.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()
