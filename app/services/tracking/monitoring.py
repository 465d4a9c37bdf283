"""Continuous monitoring of champions: evaluate, record, alert once, resolve, and act.

One evaluation stores a MONITORING metrics row and a drift report, raises or folds DRIFT and
DEGRADATION alerts (one unresolved alert per series and type), resolves them itself once the
condition has been clear for the policy's number of evaluations, and — when the policy allows —
retrains, at most once per cooldown.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.constants import SYSTEM_ACTOR
from app.db.engine import transaction
from app.db.tables import Alert, DriftReport, ModelVersion, PerformanceMetrics, TrainingJob
from app.enums import (
    AlertType,
    MetricsSource,
    ModelType,
    Severity,
    TriggerType,
    VersionStage,
)
from app.errors import Conflict
from app.ml.drift import ErrorMetrics, window_verdict
from app.ml.model_types import get_model_type
from app.services.alerting import alerts
from app.services.checks import require_range
from app.services.fleet import machines, readings
from app.services.models import job_lifecycle
from app.services.savings import interventions
from app.services.tracking import messages, policies, quality
from app.services.tracking.evaluation import Evaluation, evaluate
from app.services.tracking.performance import evaluation_row

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.monitoring")

#: Out-of-sample history the CUSUM reads; older residuals have already been judged.
CUSUM_HISTORY_DAYS = 90
MAX_WINDOW_DAYS = 365
#: Which evaluation flag keeps which alert type open.
CONDITIONS = {AlertType.DRIFT: "data_drift", AlertType.DEGRADATION: "concept_drift"}
AUTO_TRIGGERS = {AlertType.DRIFT: TriggerType.DRIFT, AlertType.DEGRADATION: TriggerType.DEGRADATION}


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
    full new window of readings. Returns evaluations made."""
    await quality.check_all(resources)
    async with resources.reads() as session:
        champions = (
            await session.scalars(sa.select(ModelVersion).where(ModelVersion.stage == VersionStage.CHAMPION))
        ).all()
    evaluated = 0
    for version in champions:
        try:
            async with resources.reads() as session:
                champion = Champion(version, await _validation_of(session, version.id))
            evaluated += await evaluate_champion(resources, champion, None, only_new=True) is not None
        except Exception:  # one broken series must not stop the others
            logger.exception("monitoring %s of %s failed", version.model_type.name, version.machine_id)
    return evaluated


async def evaluate_champion(
    resources: Resources, champion: Champion, drift_window_days: float | None, only_new: bool
) -> DriftReport | None:
    version = champion.version
    async with resources.reads() as session:
        policy = (await policies.get(session, version.machine_id, version.model_type)).settings
        latest = await readings.latest_instant(session, version.machine_id)
        if latest is None or (only_new and not await _has_new_window(session, version, latest, policy)):
            return None
        since = max(version.trained_to, latest - timedelta(days=CUSUM_HISTORY_DAYS))
        reporting = await readings.window_frame(session, version.machine_id, since, latest)
        days = drift_window_days if drift_window_days is not None else policy.drift_window_days
        drift_frame = await readings.window_frame(session, version.machine_id, latest - timedelta(days=days), latest)
        validation_frame = await _validation_frame(session, champion)
        earlier = await _earlier_windows(session, version.id, policy.consecutive_windows - 1)
        if version.model_type == ModelType.BASELINE and await interventions.measure_in_effect(
            session, version.machine_id, version.trained_to, latest
        ):
            # After an efficiency measure the baseline's departure is the saving, not a degradation:
            # no performance window, no level shift, and the target leaves the drift check (drivers stay).
            reporting, drift_frame = readings.empty_frame(), drift_frame.drop(columns="energy_kwh")
    model = get_model_type(version.model_type.value).load(version.artifact)
    reference = _error_metrics(champion.validation)
    evaluation = await asyncio.to_thread(
        evaluate, model, version.reference_profile, reference, validation_frame, reporting, drift_frame, earlier, policy
    )
    report, raised = await _record(resources, version, evaluation, policy)
    for outcome in raised:
        await alerts.publish(resources, outcome)
    if policy.auto_retrain:
        for outcome in raised:
            await _act(resources, outcome.alert, policy.retrain_cooldown_hours)
    return report


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


async def _has_new_window(session: AsyncSession, version: ModelVersion, latest: datetime, policy: Any) -> bool:
    """Windows do not overlap: the next one needs a full window of readings after the last one's end."""
    last_end = await session.scalar(
        sa.select(sa.func.max(PerformanceMetrics.window_end)).where(
            PerformanceMetrics.model_version_id == version.id,
            PerformanceMetrics.source == MetricsSource.MONITORING,
        )
    )
    start = max(version.trained_to, last_end) if last_end else version.trained_to
    return latest - start >= timedelta(hours=policy.evaluation_window_hours)


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


async def _record(
    resources: Resources, version: ModelVersion, evaluation: Evaluation, policy: Any
) -> tuple[DriftReport, list[alerts.RaisedAlert]]:
    """Metrics row, drift report and alert changes in one transaction."""
    now = datetime.now(UTC)
    features = [feature.to_dict() for feature in evaluation.data_drift.features]
    flags = {
        "data_drift": evaluation.data_drift.detected,
        "concept_drift": evaluation.concept_drift,
        "window_degraded": evaluation.window_degraded,
        "drift_verdict": window_verdict(features),
    }
    concept = messages.concept(evaluation)
    metrics = evaluation.metrics.as_dict() if evaluation.metrics else {}
    async with transaction(resources.sessions) as session:
        session.add(
            evaluation_row(
                metrics=metrics,
                extra=flags,
                machine_id=version.machine_id,
                model_type=version.model_type,
                model_version_id=version.id,
                source=MetricsSource.MONITORING,
                evaluated_at=now,
                window_start=evaluation.window_start,
                window_end=evaluation.window_end,
                sample_count=evaluation.sample_count,
                drift_detected=evaluation.detected,
                drift_score=evaluation.data_drift.drift_score,
            )
        )
        report = DriftReport(
            machine_id=version.machine_id,
            model_type=version.model_type,
            model_version_id=version.id,
            checked_at=now,
            window_start=evaluation.drift_window_start,
            window_end=evaluation.drift_window_end,
            sample_count=evaluation.drift_samples,
            drift_detected=evaluation.detected,
            drift_score=evaluation.data_drift.drift_score,
            features=features,
            concept=concept,
        )
        session.add(report)
        await session.flush()
        raised = await _raise(session, resources, version, evaluation, report)
        await _resolve_cleared(session, version, policy.clear_windows, {o.alert.alert_type for o in raised})
    return report, raised


async def _raise(
    session: AsyncSession, resources: Resources, version: ModelVersion, evaluation: Evaluation, report: DriftReport
) -> list[alerts.RaisedAlert]:
    raised = []
    raise_alert = partial(
        alerts.raise_alert,
        session,
        machine_id=version.machine_id,
        model_type=version.model_type,
        notify=resources.settings.webhook_urls,
    )
    data = evaluation.data_drift
    if data.detected:
        drifted = [f for f in data.features if f.drifted]
        named = "; ".join(f"{f.feature}: {f.explanation}" for f in drifted)
        span = messages.span(evaluation.drift_window_start, evaluation.drift_window_end)
        raised.append(
            await raise_alert(
                alert_type=AlertType.DRIFT,
                severity=Severity.CRITICAL if data.severity.value == "critical" else Severity.WARNING,
                message=f"Inputs of version {version.version} left what it was trained on ({span}): {named}",
                details={
                    "drift_report_id": str(report.id),
                    "model_version": version.version,
                    "window_start": evaluation.drift_window_start.isoformat(),
                    "window_end": evaluation.drift_window_end.isoformat(),
                    "features": [f.feature for f in drifted],
                    "explanations": {f.feature: f.explanation for f in drifted},
                    "drift_score": data.drift_score,
                },
            )
        )
    if evaluation.concept_drift:
        raised.append(
            await raise_alert(
                alert_type=AlertType.DEGRADATION,
                severity=messages.degradation_severity(evaluation),
                message=messages.degradation_message(evaluation, version),
                details={
                    "drift_report_id": str(report.id),
                    "model_version": version.version,
                    "window_start": messages.iso(evaluation.level_shift_since or evaluation.window_start),
                    "window_end": messages.iso(evaluation.window_end),
                    **messages.concept(evaluation),
                },
            )
        )
    return raised


async def _resolve_cleared(
    session: AsyncSession, version: ModelVersion, clear_windows: int, present: set[AlertType]
) -> None:
    """Resolve an alert whose condition was absent from the last ``clear_windows`` evaluations."""
    recent = (
        await session.scalars(
            sa.select(PerformanceMetrics.extra)
            .where(
                PerformanceMetrics.machine_id == version.machine_id,
                PerformanceMetrics.model_type == version.model_type,
                PerformanceMetrics.source == MetricsSource.MONITORING,
            )
            .order_by(PerformanceMetrics.evaluated_at.desc())
            .limit(clear_windows)
        )
    ).all()
    if len(recent) < clear_windows:
        return
    for alert_type, flag in CONDITIONS.items():
        if alert_type in present or any(extra.get(flag) for extra in recent):
            continue
        await alerts.resolve_by_system(
            session,
            version.machine_id,
            version.model_type,
            alert_type,
            f"Condition cleared for {clear_windows} consecutive evaluations",
        )


async def _act(resources: Resources, alert: Alert, cooldown_hours: float) -> None:
    """Retrain on a DRIFT or DEGRADATION alert, unless an automatic retraining ran within the cooldown."""
    trigger_type = AUTO_TRIGGERS.get(alert.alert_type)
    if trigger_type is None:
        return
    async with resources.reads() as session:
        recent = await session.scalar(
            sa.select(TrainingJob.id)
            .where(
                TrainingJob.machine_id == alert.machine_id,
                TrainingJob.model_type == alert.model_type,
                TrainingJob.trigger_type.in_(list(AUTO_TRIGGERS.values())),
                TrainingJob.created_at > datetime.now(UTC) - timedelta(hours=cooldown_hours),
            )
            .limit(1)
        )
    if recent is not None:
        return
    outcome = await job_lifecycle.trigger(
        resources,
        alert.machine_id,
        alert.model_type,
        trigger_type,
        reason=f"automatic: {alert.message[:200]}",
        requested_by=SYSTEM_ACTOR,
    )
    action = (
        f"retraining job {outcome.job.id} started"
        if outcome.triggered
        else f"retraining already in progress (job {outcome.job.id})"
    )
    async with transaction(resources.sessions) as session:
        await session.execute(
            sa.update(Alert).where(Alert.id == alert.id).values(auto_action=action, training_job_id=outcome.job.id)
        )
