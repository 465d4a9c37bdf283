"""Batched reads keyed by series (machine, model type), shared by the DataLoaders' services."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.interfaces import ORMOption

from app.enums import ModelType

SeriesKey = tuple[uuid.UUID, ModelType]
Row = TypeVar("Row", bound=Any)


async def newest_per_series(
    session: AsyncSession,
    table: type[Row],
    keys: Sequence[SeriesKey],
    order_by: Sequence[sa.ColumnExpressionArgument[Any]],
    limit: int,
    *conditions: sa.ColumnElement[bool],
    options: Sequence[ORMOption] = (),
) -> dict[SeriesKey, list[Row]]:
    """The first ``limit`` rows per series in ``order_by`` order, for many series in one windowed query.

    Every key is present in the result (an empty list when the series has no rows), so a DataLoader
    can answer each key without a second round trip.
    """
    machine_ids = {machine_id for machine_id, _ in keys}
    rank = (
        sa.func.row_number()
        .over(partition_by=(table.machine_id, table.model_type), order_by=order_by)
        .label("rank_in_series")
    )
    ranked = sa.select(table.id, rank).where(table.machine_id.in_(machine_ids), *conditions).subquery()
    rows = await session.scalars(
        sa.select(table)
        .options(*options)
        .join(ranked, ranked.c.id == table.id)
        .where(ranked.c.rank_in_series <= limit)
        .order_by(*order_by)
    )
    grouped: dict[SeriesKey, list[Row]] = {key: [] for key in keys}
    for row in rows:
        key = (row.machine_id, row.model_type)
        if key in grouped:
            grouped[key].append(row)
    return grouped
