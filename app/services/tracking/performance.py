"""Performance metrics: recording external evaluations and reading history and latest values."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tables import PerformanceMetrics
from app.enums import MetricsSource, ModelType
from app.errors import InvalidInput
from app.services.checks import camel_case, require_limit, require_range, require_window
from app.services.fleet import machines
from app.services.models import registry

MAX_TREND_DAYS = 3_650
#: Metric columns that are averaged (sample-weighted) when a trend is bucketed.
METRIC_COLUMNS = ("r_squared", "rmse", "mae", "mape", "cv_rmse", "nmbe", "precision", "recall", "f1")

#: Where a metrics row sits on data time: the end of its data window, else when it was evaluated.
DATA_TIME = sa.func.coalesce(PerformanceMetrics.window_end, PerformanceMetrics.evaluated_at)

latest_view = sa.table(
    "v_latest_model_performance",
    sa.column("id", sa.Uuid),
    sa.column("machine_id", sa.Uuid),
    sa.column("model_type", sa.String),
)


@dataclass(frozen=True)
class MetricValues:
    """The metric fields a caller may supply; ``None`` means not measured."""

    r_squared: float | None = None
    rmse: float | None = None
    mae: float | None = None
    mape: float | None = None
    cv_rmse: float | None = None
    nmbe: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None

    def check(self) -> None:
        require_range("rSquared", self.r_squared, maximum=1.0)
        for name in ("rmse", "mae", "mape", "cv_rmse"):
            require_range(camel_case(name), getattr(self, name), minimum=0.0)
        require_range("nmbe", self.nmbe)
        for name in ("precision", "recall", "f1"):
            require_range(name, getattr(self, name), minimum=0.0, maximum=1.0)


async def record_external(
    session: AsyncSession,
    *,
    machine_id: uuid.UUID,
    model_type: ModelType,
    model_version_id: uuid.UUID | None,
    window_start: datetime | None,
    window_end: datetime | None,
    sample_count: int,
    values: MetricValues,
) -> PerformanceMetrics:
    """Metrics computed by a model trained and evaluated outside Kilowatch (source EXTERNAL)."""
    if sample_count < 0:
        raise InvalidInput(f"sampleCount must be ≥ 0, got {sample_count}", field="sampleCount")
    values.check()
    require_window("windowStart", window_start, "windowEnd", window_end)
    await machines.require(session, machine_id)
    if model_version_id is not None:
        await registry.require_version_of_series(session, model_version_id, machine_id, model_type)
    row = PerformanceMetrics(
        machine_id=machine_id,
        model_type=model_type,
        model_version_id=model_version_id,
        source=MetricsSource.EXTERNAL,
        window_start=window_start,
        window_end=window_end,
        sample_count=sample_count,
        extra={},
        drift_detected=False,
        **{name: getattr(values, name) for name in METRIC_COLUMNS},
    )
    session.add(row)
    await session.flush()
    return row


async def trend(
    session: AsyncSession,
    machine_id: uuid.UUID,
    model_type: ModelType,
    days: int,
    max_points: int,
) -> list[PerformanceMetrics]:
    """The last ``days`` of one series' history on data time, bucketed to at most ``max_points`` points.

    A point's place in time is the end of the data window it describes (its evaluation time only
    when it has no window): a month of readings replayed in minutes is a month long. The span ends at
    the series' newest window end, so a history imported months later still shows its last ``days``.
    """
    require_limit("days", days, MAX_TREND_DAYS)
    series = (PerformanceMetrics.machine_id == machine_id, PerformanceMetrics.model_type == model_type)
    newest = await session.scalar(sa.select(sa.func.max(DATA_TIME)).where(*series))
    if newest is None:
        return []
    rows = (
        await session.scalars(
            sa.select(PerformanceMetrics)
            .where(*series, DATA_TIME > _aware(newest) - timedelta(days=days))
            .order_by(DATA_TIME, PerformanceMetrics.evaluated_at, PerformanceMetrics.id)
        )
    ).all()
    return bucket(list(rows), max_points)


def _aware(instant: datetime) -> datetime:
    """SQLite returns the MAX of a timestamp column as a naive UTC value."""
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def bucket(rows: list[PerformanceMetrics], max_points: int) -> list[PerformanceMetrics]:
    """Merge consecutive evaluations into equal-count buckets, weighting metrics by sample count.

    Each bucket keeps the identity (id, version, source) of its newest evaluation, the union of the
    windows, the summed sample count, whether any evaluation saw drift and the highest drift score.
    """
    if len(rows) <= max_points:
        return rows
    edges = [round(index * len(rows) / max_points) for index in range(max_points + 1)]
    return [_merge(rows[start:end]) for start, end in zip(edges, edges[1:], strict=False) if end > start]


def _merge(group: Sequence[PerformanceMetrics]) -> PerformanceMetrics:
    newest = group[-1]
    merged = PerformanceMetrics(
        id=newest.id,
        machine_id=newest.machine_id,
        model_type=newest.model_type,
        model_version_id=newest.model_version_id,
        source=newest.source,
        evaluated_at=newest.evaluated_at,
        window_start=min((row.window_start for row in group if row.window_start), default=None),
        window_end=max((row.window_end for row in group if row.window_end), default=None),
        sample_count=sum(row.sample_count for row in group),
        extra={"bucketed_evaluations": len(group)},
        drift_detected=any(row.drift_detected for row in group),
        drift_score=max((row.drift_score for row in group if row.drift_score is not None), default=None),
    )
    for name in METRIC_COLUMNS:
        pairs = [(getattr(row, name), max(row.sample_count, 1)) for row in group if getattr(row, name) is not None]
        weight = sum(w for _, w in pairs)
        setattr(merged, name, sum(v * w for v, w in pairs) / weight if pairs else None)
    return merged


async def latest(
    session: AsyncSession, machine_id: uuid.UUID | None = None, model_type: ModelType | None = None
) -> Sequence[PerformanceMetrics]:
    """The newest evaluation of every series (through ``v_latest_model_performance``)."""
    newest_ids = sa.select(latest_view.c.id)
    if machine_id is not None:
        newest_ids = newest_ids.where(latest_view.c.machine_id == machine_id)
    if model_type is not None:
        newest_ids = newest_ids.where(latest_view.c.model_type == model_type.value)
    query = (
        sa.select(PerformanceMetrics)
        .where(PerformanceMetrics.id.in_(newest_ids))
        .order_by(PerformanceMetrics.machine_id, PerformanceMetrics.model_type)
    )
    return (await session.scalars(query)).all()


async def latest_for_series(
    session: AsyncSession, keys: Sequence[tuple[uuid.UUID, ModelType]]
) -> dict[tuple[uuid.UUID, ModelType], PerformanceMetrics]:
    machine_ids = {machine_id for machine_id, _ in keys}
    newest_ids = sa.select(latest_view.c.id).where(latest_view.c.machine_id.in_(machine_ids))
    rows = await session.scalars(sa.select(PerformanceMetrics).where(PerformanceMetrics.id.in_(newest_ids)))
    return {(row.machine_id, row.model_type): row for row in rows}


async def validation_for_versions(
    session: AsyncSession, version_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, PerformanceMetrics]:
    rows = await session.scalars(
        sa.select(PerformanceMetrics).where(
            PerformanceMetrics.model_version_id.in_(version_ids),
            PerformanceMetrics.source == MetricsSource.TRAINING_VALIDATION,
        )
    )
    return {row.model_version_id: row for row in rows if row.model_version_id is not None}
