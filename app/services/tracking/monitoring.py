"""Continuous monitoring of champions: which series are due, their readings, and their evaluation.

A series is due when a full evaluation window of readings arrived after its last one. Its evaluation
(``evaluation.evaluate``) reads the out-of-sample history and the drift window in one read, takes the
model from the process's model cache and the residual scale and earlier predictions from its series
memory (``series_memory``), so a cycle's model work follows the new readings; ``outcomes`` records it,
raises, resolves and acts.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tables import DriftReport, EnergyReading, ModelVersion, PerformanceMetrics
from app.enums import MetricsSource, ModelType, VersionStage
from app.errors import Conflict
from app.ml.drift import ErrorMetrics
from app.services.checks import require_range
from app.services.fleet import machines, readings
from app.services.models.model_cache import MODELS, loaded_models
from app.services.savings import interventions
from app.services.tracking import outcomes, policies, quality
from app.services.tracking.evaluation import evaluate, residual_scale
from app.services.tracking.policies import PolicySettings
from app.services.tracking.series_memory import SERIES

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.monitoring")

#: Out-of-sample history the CUSUM reads; older residuals have already been judged.
CUSUM_HISTORY_DAYS = 90
MAX_WINDOW_DAYS = 365
#: Machines evaluated at once on PostgreSQL (SQLite has one writer: one at a time there).
MACHINES_AT_ONCE = 4


@dataclass(frozen=True)
class Champion:
    version: ModelVersion
    validation: PerformanceMetrics | None


async def drift_reports(
    session: AsyncSession, machine_id: uuid.UUID, model_type: ModelType, limit: int
) -> Sequence[DriftReport]:
    query = (
        sa.select(DriftReport)
        .where(DriftReport.machine_id == machine_id, DriftReport.model_type == model_type)
        .order_by(DriftReport.window_end.desc(), DriftReport.checked_at.desc(), DriftReport.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def check_drift(
    resources: Resources, machine_id: uuid.UUID, model_type: ModelType, window_days: int
) -> DriftReport:
    """Evaluate now, on demand (the old ``POST /drift/check``): same records and alerts as the cron."""
    require_range("windowDays", window_days, minimum=1, maximum=MAX_WINDOW_DAYS)
    async with resources.reads() as session:
        await machines.require(session, machine_id)
        champion = await _champion(session, machine_id, model_type)
    if champion is None:
        raise Conflict(
            f"{model_type.name} of machine {machine_id} has no champion yet: train one first", field="modelType"
        )
    report = await evaluate_champion(resources, champion, drift_window_days=float(window_days), only_new=False)
    assert report is not None
    return report


async def evaluate_all(resources: Resources) -> int:
    """The periodic pass: data quality of every monitored machine's new readings, then every champion with a
    full new window of readings. Returns evaluations made.

    The state deciding which series are due is read for all of them in one statement; machines are then
    evaluated a few at a time (on PostgreSQL), so one machine's database round trips overlap another's
    computation. Series are independent: their evaluations, alerts and retraining touch only their own rows.
    """
    await quality.check_all(resources)
    async with resources.reads() as session:
        monitored = await _monitored(session)
    MODELS.reserve(len(monitored))
    SERIES.reserve(len(monitored))
    machines_due: dict[uuid.UUID, list[tuple[_Due, datetime]]] = defaultdict(list)
    for due in monitored:
        if due.latest is not None and _has_new_window(due):
            machines_due[due.champion.version.machine_id].append((due, due.latest))
    gate = asyncio.Semaphore(MACHINES_AT_ONCE if resources.settings.dialect == "postgresql" else 1)

    async def machine(series: list[tuple[_Due, datetime]]) -> int:
        evaluated = 0
        async with gate:
            for due, latest in series:
                version = due.champion.version
                try:
                    report = await _evaluate(resources, due.champion, due.policy, latest, None)
                    evaluated += report is not None
                except Exception:  # one broken series must not stop the others
                    logger.exception("monitoring %s of %s failed", version.model_type.name, version.machine_id)
        return evaluated

    return sum(await asyncio.gather(*(machine(series) for series in machines_due.values())))


async def evaluate_champion(
    resources: Resources, champion: Champion, drift_window_days: float | None, only_new: bool
) -> DriftReport | None:
    version = champion.version
    async with resources.reads() as session:
        policy = (await policies.get(session, version.machine_id, version.model_type)).settings
        latest = await readings.latest_instant(session, version.machine_id)
        last_end = await _last_window_end(session, version.id) if only_new else None
    if latest is None or (only_new and not _has_new_window(_Due(champion, policy, latest, last_end))):
        return None
    return await _evaluate(resources, champion, policy, latest, drift_window_days)


@dataclass(frozen=True)
class _Due:
    champion: Champion
    policy: PolicySettings
    #: The machine's newest reading, and the end of the version's last monitoring window.
    latest: datetime | None
    last_end: datetime | None


async def _monitored(session: AsyncSession) -> list[_Due]:
    """Every champion with its validation metrics, its machine's newest reading and its last monitoring
    window's end, in one statement. Artifacts are left to the model cache and reference profiles (~200 kB
    each for a year of hourly readings) to the evaluation: most hourly passes find few series due."""
    validation = sa.orm.aliased(PerformanceMetrics)
    newest = (
        sa.select(sa.func.max(EnergyReading.ts)).where(EnergyReading.machine_id == ModelVersion.machine_id)
    ).scalar_subquery()
    last_end = (
        sa.select(sa.func.max(PerformanceMetrics.window_end)).where(
            PerformanceMetrics.model_version_id == ModelVersion.id,
            PerformanceMetrics.source == MetricsSource.MONITORING,
        )
    ).scalar_subquery()
    rows = (
        await session.execute(
            sa.select(ModelVersion, validation, newest, last_end)
            .options(sa.orm.defer(ModelVersion.artifact), sa.orm.defer(ModelVersion.reference_profile))
            .outerjoin(
                validation,
                (validation.model_version_id == ModelVersion.id)
                & (validation.source == MetricsSource.TRAINING_VALIDATION),
            )
            .where(ModelVersion.stage == VersionStage.CHAMPION)
        )
    ).all()
    settings = await policies.get_many(session, [(row[0].machine_id, row[0].model_type) for row in rows])
    return [
        _Due(Champion(version, metrics), settings[version.machine_id, version.model_type].settings, latest, end)
        for version, metrics, latest, end in rows
    ]


async def _evaluate(
    resources: Resources,
    champion: Champion,
    policy: PolicySettings,
    latest: datetime,
    drift_window_days: float | None,
) -> DriftReport:
    version = champion.version
    since = max(version.trained_to, latest - timedelta(days=CUSUM_HISTORY_DAYS))
    days = drift_window_days if drift_window_days is not None else policy.drift_window_days
    drift_start = latest - timedelta(days=days)
    async with resources.reads() as session:
        # One read for both windows: the out-of-sample history and the drift window (usually inside it).
        frame = await readings.window_frame(session, version.machine_id, min(since, drift_start), latest)
        reporting, drift_frame = frame.loc[frame.index > since], frame.loc[frame.index > drift_start]
        earlier = await _earlier_windows(session, version.id, policy.consecutive_windows - 1)
        if version.model_type == ModelType.BASELINE and await interventions.measure_in_effect(
            session, version.machine_id, version.trained_to, latest
        ):
            # After an efficiency measure the baseline's departure is the saving, not a degradation:
            # no performance window, no level shift, and the target leaves the drift check (drivers stay).
            reporting, drift_frame = readings.empty_frame(), drift_frame.drop(columns="energy_kwh")
        profile = (
            await session.execute(sa.select(ModelVersion.reference_profile).where(ModelVersion.id == version.id))
        ).scalar_one()
        model = (await loaded_models(session, [version]))[version.id]
        known, scale = SERIES.scale(version.id)
        validation_frame = None if known else await _validation_frame(session, champion)
    if validation_frame is not None:
        scale = await asyncio.to_thread(residual_scale, model, validation_frame)
        SERIES.remember_scale(version.id, scale)
    evaluation = await asyncio.to_thread(
        evaluate,
        model,
        profile,
        _error_metrics(champion.validation),
        scale,
        reporting,
        drift_frame,
        earlier,
        policy,
        partial(SERIES.predictions, version.id),
    )
    return await outcomes.record(resources, version, evaluation, policy)


async def _champion(session: AsyncSession, machine_id: uuid.UUID, model_type: ModelType) -> Champion | None:
    version = await session.scalar(
        sa.select(ModelVersion).where(
            ModelVersion.machine_id == machine_id,
            ModelVersion.model_type == model_type,
            ModelVersion.stage == VersionStage.CHAMPION,
        )
    )
    return Champion(version, await _validation_of(session, version.id)) if version else None


async def _validation_of(session: AsyncSession, version_id: uuid.UUID) -> PerformanceMetrics | None:
    return await session.scalar(
        sa.select(PerformanceMetrics).where(
            PerformanceMetrics.model_version_id == version_id,
            PerformanceMetrics.source == MetricsSource.TRAINING_VALIDATION,
        )
    )


def _has_new_window(due: _Due) -> bool:
    """Windows do not overlap: the next one needs a full window of readings after the last one's end."""
    version, latest = due.champion.version, due.latest
    start = max(version.trained_to, due.last_end) if due.last_end else version.trained_to
    return latest is not None and latest - start >= timedelta(hours=due.policy.evaluation_window_hours)


async def _last_window_end(session: AsyncSession, version_id: uuid.UUID) -> datetime | None:
    return await session.scalar(
        sa.select(sa.func.max(PerformanceMetrics.window_end)).where(
            PerformanceMetrics.model_version_id == version_id,
            PerformanceMetrics.source == MetricsSource.MONITORING,
        )
    )


async def _validation_frame(session: AsyncSession, champion: Champion) -> Any:
    validation = champion.validation
    if validation is None or validation.window_start is None or validation.window_end is None:
        return readings.empty_frame()
    start = validation.window_start - timedelta(microseconds=1)
    return await readings.window_frame(session, champion.version.machine_id, start, validation.window_end)


async def _earlier_windows(session: AsyncSession, version_id: uuid.UUID, count: int) -> list[ErrorMetrics]:
    if count <= 0:
        return []
    rows = (
        await session.scalars(
            sa.select(PerformanceMetrics)
            .where(
                PerformanceMetrics.model_version_id == version_id, PerformanceMetrics.source == MetricsSource.MONITORING
            )
            .order_by(PerformanceMetrics.evaluated_at.desc())
            .limit(count)
        )
    ).all()
    return [_error_metrics(row) for row in reversed(rows)]


def _error_metrics(row: PerformanceMetrics | None) -> ErrorMetrics:
    return ErrorMetrics(row.cv_rmse, row.nmbe, row.r_squared) if row else ErrorMetrics()
