"""What one monitoring evaluation leaves behind: its records, its alerts, and the retraining they call for.

A MONITORING metrics row and a drift report; DRIFT and DEGRADATION alerts raised or folded (one unresolved
alert per series and type), resolved here once the condition has been clear for the policy's number of
evaluations; and, when the policy allows, a retraining per alert, at most once per cooldown.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.constants import SYSTEM_ACTOR
from app.db.engine import transaction
from app.db.tables import Alert, DriftReport, ModelVersion, PerformanceMetrics, TrainingJob
from app.enums import UNRESOLVED_ALERT_STATUSES, AlertType, MetricsSource, ModelType, Severity, TriggerType
from app.ml.drift import window_verdict
from app.services.alerting import alerts
from app.services.models import job_lifecycle
from app.services.tracking import messages
from app.services.tracking.evaluation import Evaluation
from app.services.tracking.performance import evaluation_row
from app.services.tracking.policies import PolicySettings

if TYPE_CHECKING:
    from app.runtime.resources import Resources

#: Which evaluation flag keeps which alert type open.
CONDITIONS = {AlertType.DRIFT: "data_drift", AlertType.DEGRADATION: "concept_drift"}
AUTO_TRIGGERS = {AlertType.DRIFT: TriggerType.DRIFT, AlertType.DEGRADATION: TriggerType.DEGRADATION}


@dataclass(frozen=True)
class Evaluated:
    """One series' evaluation, with the version it judged and the policy it was judged by."""

    version: ModelVersion
    evaluation: Evaluation
    policy: PolicySettings


async def record(resources: Resources, evaluated: Sequence[Evaluated]) -> list[DriftReport]:
    """Store one machine's evaluations and their alert changes (one transaction), announce new alerts, then act
    on them. Returns the drift reports in the order of ``evaluated``."""
    if not evaluated:
        return []
    reports, raised = await _store(resources, evaluated)
    for outcome, _ in raised:
        await alerts.publish(resources, outcome)
    for outcome, policy in raised:
        if policy.auto_retrain:
            await _act(resources, outcome.alert, policy.retrain_cooldown_hours)
    return reports


async def _store(
    resources: Resources, evaluated: Sequence[Evaluated]
) -> tuple[list[DriftReport], list[tuple[alerts.RaisedAlert, PolicySettings]]]:
    """Metrics rows, drift reports and alert changes of one machine's series in one transaction.

    The rows of every series are flushed together (one INSERT per table), and the machine's unresolved
    DRIFT and DEGRADATION alerts are read once: only a series holding one can have one to resolve.
    """
    now = datetime.now(UTC)
    async with transaction(resources.sessions) as session:
        reports = []
        for item in evaluated:
            metrics_row, report = _rows(item, now)
            session.add(metrics_row)
            session.add(report)
            reports.append(report)
        await session.flush()
        unresolved = await _unresolved(session, evaluated[0].version.machine_id)
        raised: list[tuple[alerts.RaisedAlert, PolicySettings]] = []
        for item, report in zip(evaluated, reports, strict=True):
            found = await _raise(session, resources, item.version, item.evaluation, report)
            raised += [(outcome, item.policy) for outcome in found]
            present = {outcome.alert.alert_type for outcome in found}
            clearable = {
                alert_type
                for alert_type in CONDITIONS
                if alert_type not in present and (item.version.model_type, alert_type) in unresolved
            }
            if clearable:
                await _resolve_cleared(session, item.version, item.policy.clear_windows, clearable)
    return reports, raised


def _rows(item: Evaluated, now: datetime) -> tuple[PerformanceMetrics, DriftReport]:
    """The evaluation's MONITORING metrics row and its drift report."""
    version, evaluation = item.version, item.evaluation
    features = [feature.to_dict() for feature in evaluation.data_drift.features]
    flags = {
        "data_drift": evaluation.data_drift.detected,
        "concept_drift": evaluation.concept_drift,
        "window_degraded": evaluation.window_degraded,
        "drift_verdict": window_verdict(features),
    }
    # What the metrics row and the drift report both say: the series, the version and the verdict.
    shared = {
        "machine_id": version.machine_id,
        "model_type": version.model_type,
        "model_version_id": version.id,
        "drift_detected": evaluation.detected,
        "drift_score": evaluation.data_drift.drift_score,
    }
    metrics_row = evaluation_row(
        metrics=evaluation.metrics.as_dict() if evaluation.metrics else {},
        extra=flags,
        source=MetricsSource.MONITORING,
        evaluated_at=now,
        window_start=evaluation.window_start,
        window_end=evaluation.window_end,
        sample_count=evaluation.sample_count,
        **shared,
    )
    report = DriftReport(
        checked_at=now,
        window_start=evaluation.drift_window_start,
        window_end=evaluation.drift_window_end,
        sample_count=evaluation.drift_samples,
        features=features,
        concept=messages.concept(evaluation),
        **shared,
    )
    return metrics_row, report


async def _unresolved(session: AsyncSession, machine_id: uuid.UUID) -> set[tuple[ModelType, AlertType]]:
    """(series, alert type) of the machine's unresolved alerts that an evaluation can clear."""
    rows = await session.execute(
        sa.select(Alert.model_type, Alert.alert_type).where(
            Alert.machine_id == machine_id,
            Alert.alert_type.in_(list(CONDITIONS)),
            Alert.status.in_(UNRESOLVED_ALERT_STATUSES),
        )
    )
    return {(model_type, alert_type) for model_type, alert_type in rows}


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
    session: AsyncSession, version: ModelVersion, clear_windows: int, clearable: set[AlertType]
) -> None:
    """Resolve an alert of ``clearable`` whose condition was absent from the last ``clear_windows`` evaluations."""
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
    for alert_type in clearable:
        if any(extra.get(CONDITIONS[alert_type]) for extra in recent):
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
