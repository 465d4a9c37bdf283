"""Continuous monitoring of champions: which series are due, their readings, and their evaluation.

A series is due when a full evaluation window of readings arrived after its last one. Its evaluation
(``evaluation.evaluate``) reads the out-of-sample history and the drift window in one read, takes the
model from the process's model cache and the residual scale and earlier predictions from its series
memory (``series_memory``), so a cycle's model work follows the new readings; ``outcomes`` records it,
raises, resolves and acts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tables import DriftReport, MachineReadingStats, ModelVersion, PerformanceMetrics
from app.enums import MetricsSource, ModelType, VersionStage
from app.errors import Conflict
from app.ml.drift import ErrorMetrics, FeatureProfile, read_reference_profile
from app.ml.model_types.base import FittedModel
from app.services.checks import require_range
from app.services.fleet import machines, readings
from app.services.models.model_cache import MODELS, loaded_models
from app.services.savings import interventions
from app.services.tracking import outcomes, policies, quality
from app.services.tracking.evaluation import Evaluation, evaluate, residual_scale
from app.services.tracking.policies import PolicySettings
from app.services.tracking.series_memory import SERIES

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.monitoring")

#: Out-of-sample history the CUSUM reads; older residuals have already been judged.
CUSUM_HISTORY_DAYS = 90
MAX_WINDOW_DAYS = 365
#: Machines checked and evaluated at once on PostgreSQL (SQLite has one writer: one at a time there). Two,
#: so one machine's round trips overlap another's computation; more threads contending for the GIL cost
#: more CPU than they hide (a one-new-day pass over 4,000 series: 90 s four at a time, 62 s two, 63 s one).
MACHINES_AT_ONCE = 2


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
        policy = (await policies.get(session, machine_id, model_type)).settings
        latest = await readings.latest_instant(session, machine_id)
    if latest is None:
        raise Conflict(f"machine {machine_id} has no readings to check", field="machineId")
    (report,) = await _evaluate_machine(resources, [_Due(champion, policy, latest, None)], float(window_days))
    return report


async def evaluate_all(resources: Resources) -> int:
    """The periodic pass: data quality of every monitored machine's new readings, then every champion with a
    full new window of readings. Returns evaluations made.

    The state deciding which series are due is read for all of them in one statement. A machine's due
    series are then evaluated together (``_evaluate_machine``), and machines a few at a time on PostgreSQL,
    so one machine's database round trips overlap another's computation. Machines are independent: their
    evaluations, alerts and retraining touch only their own rows.
    """
    at_once = MACHINES_AT_ONCE if resources.settings.dialect == "postgresql" else 1
    await quality.check_all(resources, at_once)
    async with resources.reads() as session:
        monitored = await _monitored(session)
    MODELS.reserve(len(monitored))
    SERIES.reserve(len(monitored))
    machines_due: dict[uuid.UUID, list[_Due]] = defaultdict(list)
    for due in monitored:
        if due.latest is not None and _has_new_window(due):
            machines_due[due.champion.version.machine_id].append(due)
    gate = asyncio.Semaphore(at_once)

    async def machine(machine_id: uuid.UUID, series: list[_Due]) -> int:
        async with gate:
            try:
                return len(await _evaluate_machine(resources, series, None))
            except Exception:  # one machine's failure must not stop the others
                logger.exception("monitoring of machine %s failed", machine_id)
                return 0

    return sum(await asyncio.gather(*(machine(key, series) for key, series in machines_due.items())))


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
    last_end = (
        sa.select(sa.func.max(PerformanceMetrics.window_end)).where(
            PerformanceMetrics.model_version_id == ModelVersion.id,
            PerformanceMetrics.source == MetricsSource.MONITORING,
        )
    ).scalar_subquery()
    rows = (
        await session.execute(
            sa.select(ModelVersion, validation, MachineReadingStats.last_reading_at, last_end)
            .options(sa.orm.defer(ModelVersion.artifact), sa.orm.defer(ModelVersion.reference_profile))
            .outerjoin(
                validation,
                (validation.model_version_id == ModelVersion.id)
                & (validation.source == MetricsSource.TRAINING_VALIDATION),
            )
            .outerjoin(MachineReadingStats, MachineReadingStats.machine_id == ModelVersion.machine_id)
            .where(ModelVersion.stage == VersionStage.CHAMPION)
        )
    ).all()
    settings = await policies.get_many(session, [(row[0].machine_id, row[0].model_type) for row in rows])
    return [
        _Due(Champion(version, metrics), settings[version.machine_id, version.model_type].settings, latest, end)
        for version, metrics, latest, end in rows
    ]


@dataclass(frozen=True)
class _Inputs:
    """What one series' evaluation reads, besides the machine's readings."""

    references: dict[str, FeatureProfile]
    earlier: list[ErrorMetrics]
    validation_frame: Any


async def _evaluate_machine(
    resources: Resources, series: list[_Due], drift_window_days: float | None
) -> list[DriftReport]:
    """Evaluate one machine's due series together: one read of the machine's readings for all of them
    (each series slices its out-of-sample history and drift window from it), one statement each for their
    earlier windows and reference profiles, and their outcomes recorded in one transaction.

    A series whose computation fails is logged and left out; the others are still recorded.
    """
    machine_id = series[0].champion.version.machine_id
    latest = max(due.latest for due in series if due.latest is not None)
    windows = {due.champion.version.id: _windows(due, latest, drift_window_days) for due in series}
    async with resources.reads() as session:
        frame = await readings.window_frame(
            session, machine_id, min(min(since, drift_start) for since, drift_start in windows.values()), latest
        )
        earlier = await _earlier_windows(
            session, {due.champion.version.id: due.policy.consecutive_windows - 1 for due in series}
        )
        baselines = [due.champion.version for due in series if due.champion.version.model_type == ModelType.BASELINE]
        # After an efficiency measure the baseline's departure is the saving, not a degradation.
        measured = bool(baselines) and await interventions.measure_in_effect(
            session, machine_id, baselines[0].trained_to, latest
        )
        profiles = await _reference_profiles(session, list(windows))
        models = await loaded_models(session, [due.champion.version for due in series])
        inputs = {}
        for due in series:
            version = due.champion.version
            known, _ = SERIES.scale(version.id)
            inputs[version.id] = _Inputs(
                profiles[version.id],
                earlier.get(version.id, []),
                None if known else await _validation_frame(session, due.champion),
            )
    evaluated = []
    for due in series:
        version = due.champion.version
        since, drift_start = windows[version.id]
        reporting, drift_frame = frame.loc[frame.index > since], frame.loc[frame.index > drift_start]
        if version.model_type == ModelType.BASELINE and measured:
            # no performance window, no level shift, and the target leaves the drift check (drivers stay)
            reporting, drift_frame = readings.empty_frame(), drift_frame.drop(columns="energy_kwh")
        try:
            evaluation = await asyncio.to_thread(
                _evaluate_series, due, models[version.id], inputs[version.id], reporting, drift_frame
            )
        except Exception:  # one broken series must not stop its machine's others
            logger.exception("monitoring %s of %s failed", version.model_type.name, machine_id)
            continue
        evaluated.append(outcomes.Evaluated(version, evaluation, due.policy))
    return await outcomes.record(resources, evaluated)


async def _reference_profiles(
    session: AsyncSession, version_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, FeatureProfile]]:
    """Each version's parsed reference profile, from the series memory or read, decoded and parsed once per
    distinct profile: a machine's model types trained on the same window share one (~160 kB of JSON for a
    year of hourly readings), so the missing ones are read as text and parsed per distinct text."""
    profiles = {version_id: known for version_id in version_ids if (known := SERIES.references(version_id))}
    missing = [version_id for version_id in version_ids if version_id not in profiles]
    if not missing:
        return profiles
    rows = await session.execute(
        sa.select(ModelVersion.id, sa.cast(ModelVersion.reference_profile, sa.Text)).where(ModelVersion.id.in_(missing))
    )
    parsed: dict[str, dict[str, FeatureProfile]] = {}
    for version_id, text in rows:
        if text not in parsed:
            parsed[text] = read_reference_profile(json.loads(text))
        profiles[version_id] = parsed[text]
        SERIES.remember_references(version_id, parsed[text])
    return profiles


def _windows(due: _Due, latest: datetime, drift_window_days: float | None) -> tuple[datetime, datetime]:
    """(start of the out-of-sample history the CUSUM reads, start of the drift window)."""
    days = drift_window_days if drift_window_days is not None else due.policy.drift_window_days
    since = max(due.champion.version.trained_to, latest - timedelta(days=CUSUM_HISTORY_DAYS))
    return since, latest - timedelta(days=days)


def _evaluate_series(
    due: _Due, model: FittedModel, inputs: _Inputs, reporting: pd.DataFrame, drift_frame: pd.DataFrame
) -> Evaluation:
    """The computation of one series, in a worker thread: its residual scale once per version, then the
    evaluation (the series memory predicts only readings not predicted before)."""
    version = due.champion.version
    known, scale = SERIES.scale(version.id)
    if not known:
        scale = residual_scale(model, inputs.validation_frame)
        SERIES.remember_scale(version.id, scale)
    return evaluate(
        model,
        inputs.references,
        _error_metrics(due.champion.validation),
        scale,
        reporting,
        drift_frame,
        inputs.earlier,
        due.policy,
        partial(SERIES.predictions, version.id),
    )


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


async def _validation_frame(session: AsyncSession, champion: Champion) -> Any:
    validation = champion.validation
    if validation is None or validation.window_start is None or validation.window_end is None:
        return readings.empty_frame()
    start = validation.window_start - timedelta(microseconds=1)
    return await readings.window_frame(session, champion.version.machine_id, start, validation.window_end)


async def _earlier_windows(session: AsyncSession, counts: dict[uuid.UUID, int]) -> dict[uuid.UUID, list[ErrorMetrics]]:
    """Each version's last ``counts[version]`` monitoring windows, oldest first, in one statement."""
    wanted = {version_id: count for version_id, count in counts.items() if count > 0}
    if not wanted:
        return {}
    rank = (
        sa.func.row_number()
        .over(partition_by=PerformanceMetrics.model_version_id, order_by=PerformanceMetrics.evaluated_at.desc())
        .label("rank")
    )
    ranked = (
        sa.select(
            PerformanceMetrics.model_version_id,
            PerformanceMetrics.evaluated_at,
            PerformanceMetrics.cv_rmse,
            PerformanceMetrics.nmbe,
            PerformanceMetrics.r_squared,
            rank,
        )
        .where(PerformanceMetrics.model_version_id.in_(wanted), PerformanceMetrics.source == MetricsSource.MONITORING)
        .subquery()
    )
    rows = (
        await session.execute(
            sa.select(ranked).where(ranked.c.rank <= max(wanted.values())).order_by(ranked.c.evaluated_at)
        )
    ).all()
    found: dict[uuid.UUID, list[ErrorMetrics]] = defaultdict(list)
    for version_id, _, cv_rmse, nmbe, r_squared, position in rows:
        if position <= wanted[version_id]:
            found[version_id].append(ErrorMetrics(cv_rmse, nmbe, r_squared))
    return found


def _error_metrics(row: PerformanceMetrics | None) -> ErrorMetrics:
    return ErrorMetrics(row.cv_rmse, row.nmbe, row.r_squared) if row else ErrorMetrics()
