"""Readings as the frames the model types train and predict on."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tables import EnergyReading

FRAME_COLUMNS = ("energy_kwh", "production_units", "outdoor_temp_c", "is_anomaly")


async def recent_frame(session: AsyncSession, machine_id: uuid.UUID, days: int) -> pd.DataFrame:
    """The machine's newest ``days`` of readings, indexed by UTC instant (the layout of ``app.ml``)."""
    last = await latest_instant(session, machine_id)
    if last is None:
        return empty_frame()
    return await window_frame(session, machine_id, last - timedelta(days=days), last)


async def window_frame(session: AsyncSession, machine_id: uuid.UUID, start: datetime, end: datetime) -> pd.DataFrame:
    """Readings with ``start < ts <= end``."""
    result = await session.execute(
        sa.select(EnergyReading.ts, *(getattr(EnergyReading, name) for name in FRAME_COLUMNS))
        .where(EnergyReading.machine_id == machine_id, EnergyReading.ts > start, EnergyReading.ts <= end)
        .order_by(EnergyReading.ts)
    )
    return to_frame(result.all())


def to_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Rows of (ts, energy_kwh, production_units, outdoor_temp_c, is_anomaly), database rows or tuples."""
    if not rows:
        return empty_frame()
    timestamps, energy, production, temperature, anomaly = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "energy_kwh": pd.array(energy, dtype="float64"),
            "production_units": pd.array([float("nan") if v is None else v for v in production], dtype="float64"),
            "outdoor_temp_c": pd.array([float("nan") if v is None else v for v in temperature], dtype="float64"),
            "is_anomaly": pd.array(anomaly, dtype="boolean"),
        },
        index=pd.DatetimeIndex(timestamps, name="ts").tz_convert("UTC"),
    )


def empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame(
        {name: pd.array([], dtype="boolean" if name == "is_anomaly" else "float64") for name in FRAME_COLUMNS}
    )
    frame.index = pd.DatetimeIndex([], tz="UTC", name="ts")
    return frame


async def latest_instant(session: AsyncSession, machine_id: uuid.UUID) -> datetime | None:
    return await session.scalar(sa.select(sa.func.max(EnergyReading.ts)).where(EnergyReading.machine_id == machine_id))
