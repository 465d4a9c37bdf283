"""Training windows: which readings a job fits on, and whether a window holds enough of them.

By default a job fits on the machine's newest ``training_window_days``. Two bounds change that:
``train_from`` re-learns a machine from a change on (nothing before it is used, so a model never
averages two regimes), and ``train_to`` fits on data before an instant (the BASELINE frozen for an
intervention's savings must not have seen the reporting period).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tables import EnergyReading
from app.enums import ModelType
from app.errors import InvalidInput
from app.ml.model_types import get_model_type
from app.services.checks import require_aware
from app.services.fleet import readings

#: Share of the minimum history that must actually hold hourly readings (gaps are allowed, emptiness is not).
MIN_COVERAGE = 0.5
#: ``window_frame`` excludes its start; one microsecond earlier makes a bound inclusive.
JUST_BEFORE = timedelta(microseconds=1)


def has_history(model_type: ModelType, count: int, first: datetime | None, last: datetime | None) -> bool:
    """Cheap pre-check from counts alone: enough days and enough hourly readings for the type."""
    if first is None or last is None:
        return False
    needed = get_model_type(model_type.value).min_training_days
    return (last - first) / timedelta(days=1) >= needed and count >= needed * 24 * MIN_COVERAGE


async def span(
    session: AsyncSession, machine_id: uuid.UUID, start: datetime | None = None, end: datetime | None = None
) -> tuple[int, datetime | None, datetime | None]:
    """Count, first and last reading with ``start <= ts < end`` (either bound open)."""
    query = sa.select(sa.func.count(), sa.func.min(EnergyReading.ts), sa.func.max(EnergyReading.ts)).where(
        EnergyReading.machine_id == machine_id
    )
    if start is not None:
        query = query.where(EnergyReading.ts >= start)
    if end is not None:
        query = query.where(EnergyReading.ts < end)
    count, first, last = (await session.execute(query)).one()
    return int(count), first, last


async def check_bounds(
    session: AsyncSession,
    machine_id: uuid.UUID,
    model_type: ModelType,
    train_from: datetime | None,
    train_to: datetime | None,
) -> None:
    """``InvalidInput`` unless the bounds are instants in the past with enough readings between them."""
    for name, value in (("trainFrom", train_from), ("trainTo", train_to)):
        require_aware(name, value)
        if value is not None and value > datetime.now(UTC):
            raise InvalidInput(f"{name} must not be in the future (got {value.isoformat()})", field=name)
    if train_from is None and train_to is None:
        return
    if train_from is not None and train_to is not None and train_from >= train_to:
        raise InvalidInput("trainFrom must be before trainTo", field="trainFrom")
    count, first, last = await span(session, machine_id, train_from, train_to)
    if not has_history(model_type, count, first, last):
        needed = get_model_type(model_type.value).min_training_days
        if train_from is not None:
            where = f"after {train_from.isoformat()}"
        else:
            assert train_to is not None  # one bound at least: returned above otherwise
            where = f"before {train_to.isoformat()}"
        spanned = f" spanning {(last - first) / timedelta(days=1):.1f} days" if first and last else ""
        raise InvalidInput(
            f"{model_type.name} needs at least {needed:g} days of readings (half of them filled) {where}; "
            f"there are {count} readings{spanned}",
            field="trainFrom" if train_from is not None else "trainTo",
        )


async def training_frame(
    session: AsyncSession,
    machine_id: uuid.UUID,
    days: int,
    train_from: datetime | None = None,
    train_to: datetime | None = None,
) -> pd.DataFrame:
    """The newest ``days`` of readings with ``train_from <= ts < train_to`` (bounds optional)."""
    if train_to is None:
        end = await readings.latest_instant(session, machine_id)
        if end is None:
            return readings.empty_frame()
    else:
        end = train_to - JUST_BEFORE
    start = end - timedelta(days=days)
    if train_from is not None:
        start = max(start, train_from - JUST_BEFORE)
    return await readings.window_frame(session, machine_id, start, end)
