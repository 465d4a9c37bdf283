"""A/B test reads: one test, filtered lists, the running test per series."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import AbTestStatus, ModelType
from app.tables import AbTest

SeriesKey = tuple[uuid.UUID, ModelType]


async def get(session: AsyncSession, test_id: uuid.UUID) -> AbTest | None:
    return await session.get(AbTest, test_id)


async def list_tests(session: AsyncSession, statuses: Sequence[AbTestStatus] | None, limit: int) -> Sequence[AbTest]:
    query = sa.select(AbTest).order_by(AbTest.started_at.desc(), AbTest.id).limit(limit)
    if statuses:
        query = query.where(AbTest.status.in_(statuses))
    return (await session.scalars(query)).all()


async def running_of_series(session: AsyncSession, keys: Sequence[SeriesKey]) -> dict[SeriesKey, AbTest]:
    machine_ids = {machine_id for machine_id, _ in keys}
    rows = await session.scalars(
        sa.select(AbTest).where(AbTest.machine_id.in_(machine_ids), AbTest.status == AbTestStatus.RUNNING)
    )
    return {(row.machine_id, row.model_type): row for row in rows}
