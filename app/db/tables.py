"""The database schema, written once in Python.

Migrations (``migrations/versions``) are written by hand from these classes because the partial unique
indexes and views that carry the invariants (one active job per series, one champion, one running A/B
test, one unresolved alert per dedup key) are invisible to autogenerate.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.db.column_types import JsonDocument, UtcDateTime, enum_column, utc_now
from app.enums import (
    AbTestStatus,
    AlertStatus,
    AlertType,
    InterventionKind,
    JobStatus,
    MetricsSource,
    ModelType,
    Role,
    Severity,
    TriggerType,
    VersionStage,
)

# The conditions of the partial unique indexes that carry the invariants. Migration 0001 creates the
# indexes from them, and an upsert names its index by the same condition (``index_where``): PostgreSQL
# infers the arbiter index only from an identical predicate.
#: One champion per series.
ONE_CHAMPION_CONDITION = "stage = 'champion'"
#: One active (pending or running) training job per series.
ACTIVE_JOB_CONDITION = "status IN ('pending', 'running')"
#: One running A/B test per series.
RUNNING_AB_TEST_CONDITION = "status = 'running'"
#: One unresolved (open or acknowledged) alert per dedup key.
UNRESOLVED_ALERT_CONDITION = "status IN ('open', 'acknowledged')"


def core_table(entity: type[Base]) -> sa.Table:
    """A mapped class's Core table, for bulk statements that build no ORM objects (``__table__`` is typed
    as any FromClause)."""
    return cast(sa.Table, entity.__table__)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JsonDocument}


class Machine(Base):
    __tablename__ = "machines"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    #: Newest reading the data-quality check has seen (monitoring checks only what came after, plus a look-back).
    quality_checked_to: Mapped[datetime | None]


class EnergyReading(Base):
    __tablename__ = "energy_readings"

    machine_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    energy_kwh: Mapped[float] = mapped_column(sa.Float)
    production_units: Mapped[float | None] = mapped_column(sa.Float)
    outdoor_temp_c: Mapped[float | None] = mapped_column(sa.Float)
    is_anomaly: Mapped[bool | None] = mapped_column(sa.Boolean)


class MachineReadingStats(Base):
    """Per machine: how many readings it has and the first and last instant, kept by every write to readings.

    ``services/fleet/reading_stats.py`` updates the row in the ingest transaction, so the fleet page and the
    retraining scheduler read three columns instead of counting every reading of every machine.
    """

    __tablename__ = "machine_reading_stats"

    machine_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True
    )
    reading_count: Mapped[int] = mapped_column(sa.BigInteger)
    first_reading_at: Mapped[datetime]
    last_reading_at: Mapped[datetime]


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (sa.UniqueConstraint("machine_id", "model_type", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    machine_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"))
    model_type: Mapped[ModelType] = mapped_column(enum_column(ModelType))
    version: Mapped[int] = mapped_column(sa.Integer)
    stage: Mapped[VersionStage] = mapped_column(enum_column(VersionStage), default=VersionStage.CANDIDATE)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    artifact: Mapped[bytes] = mapped_column(sa.LargeBinary)
    features: Mapped[list[str]] = mapped_column(JsonDocument)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    trained_from: Mapped[datetime]
    trained_to: Mapped[datetime]
    training_rows: Mapped[int] = mapped_column(sa.Integer)
    reference_profile: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    training_job_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)


class TrainingJob(Base):
    __tablename__ = "model_training_history"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    machine_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"))
    model_type: Mapped[ModelType] = mapped_column(enum_column(ModelType))
    trigger_type: Mapped[TriggerType] = mapped_column(enum_column(TriggerType))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[JobStatus] = mapped_column(enum_column(JobStatus), default=JobStatus.PENDING)
    progress: Mapped[float] = mapped_column(sa.Float, default=0.0)
    progress_step: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    duration_seconds: Mapped[float | None] = mapped_column(sa.Float)
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    model_version_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    improvement: Mapped[float | None] = mapped_column(sa.Float)
    requested_by: Mapped[str | None] = mapped_column(sa.String(200))
    cancel_requested: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    worker_id: Mapped[str | None] = mapped_column(sa.String(200))
    #: Training window bounds when not the default (the last ``training_window_days`` up to now):
    #: ``train_from`` re-learns from a change on, ``train_to`` fits a baseline on data before one.
    train_from: Mapped[datetime | None]
    train_to: Mapped[datetime | None]


#: The metrics a performance row has columns for (the contract's metric fields); any other metric of an
#: evaluation is kept in ``extra``.
METRIC_COLUMNS = ("r_squared", "rmse", "mae", "mape", "cv_rmse", "nmbe", "precision", "recall", "f1")


class PerformanceMetrics(Base):
    __tablename__ = "model_performance_metrics"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    machine_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"))
    model_type: Mapped[ModelType] = mapped_column(enum_column(ModelType))
    model_version_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    source: Mapped[MetricsSource] = mapped_column(enum_column(MetricsSource))
    evaluated_at: Mapped[datetime] = mapped_column(default=utc_now)
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    sample_count: Mapped[int] = mapped_column(sa.Integer)
    r_squared: Mapped[float | None] = mapped_column(sa.Float)
    rmse: Mapped[float | None] = mapped_column(sa.Float)
    mae: Mapped[float | None] = mapped_column(sa.Float)
    mape: Mapped[float | None] = mapped_column(sa.Float)
    cv_rmse: Mapped[float | None] = mapped_column(sa.Float)
    nmbe: Mapped[float | None] = mapped_column(sa.Float)
    precision: Mapped[float | None] = mapped_column(sa.Float)
    recall: Mapped[float | None] = mapped_column(sa.Float)
    f1: Mapped[float | None] = mapped_column(sa.Float)
    #: Metrics beyond the contract's columns (adjusted R², WAPE, MASE, FSU, ...).
    extra: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    drift_detected: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    drift_score: Mapped[float | None] = mapped_column(sa.Float)


class DriftReport(Base):
    __tablename__ = "drift_reports"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    machine_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"))
    model_type: Mapped[ModelType] = mapped_column(enum_column(ModelType))
    model_version_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("model_versions.id", ondelete="CASCADE"))
    checked_at: Mapped[datetime] = mapped_column(default=utc_now)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    sample_count: Mapped[int] = mapped_column(sa.Integer)
    drift_detected: Mapped[bool] = mapped_column(sa.Boolean)
    drift_score: Mapped[float] = mapped_column(sa.Float)
    features: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    concept: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


class AbTest(Base):
    __tablename__ = "model_ab_tests"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    machine_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"))
    model_type: Mapped[ModelType] = mapped_column(enum_column(ModelType))
    model_a_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("model_versions.id"))
    model_b_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("model_versions.id"))
    traffic_split: Mapped[float] = mapped_column(sa.Float)
    status: Mapped[AbTestStatus] = mapped_column(enum_column(AbTestStatus), default=AbTestStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    ends_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    min_samples: Mapped[int] = mapped_column(sa.Integer)
    significance: Mapped[float] = mapped_column(sa.Float)
    results: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    winner: Mapped[str | None] = mapped_column(sa.String(1))
    started_by: Mapped[str | None] = mapped_column(sa.String(200))
    #: Early decisions allowed (confidence sequence) and the sample size it is tuned for; fixed per test.
    sequential: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    planned_samples: Mapped[int | None] = mapped_column(sa.Integer)


class ServedPrediction(Base):
    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    machine_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"))
    model_type: Mapped[ModelType] = mapped_column(enum_column(ModelType))
    ts: Mapped[datetime]
    value: Mapped[float] = mapped_column(sa.Float)
    model_version_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("model_versions.id", ondelete="CASCADE"))
    ab_test_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("model_ab_tests.id", ondelete="CASCADE")
    )
    arm: Mapped[str | None] = mapped_column(sa.String(1))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class NotificationStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class AlertNotification(Base):
    """One webhook delivery of one alert, retried with backoff by the workers until delivered."""

    __tablename__ = "alert_notifications"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    alert_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("model_alerts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    status: Mapped[NotificationStatus] = mapped_column(
        enum_column(NotificationStatus), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)


class Alert(Base):
    __tablename__ = "model_alerts"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    machine_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"))
    model_type: Mapped[ModelType] = mapped_column(enum_column(ModelType))
    alert_type: Mapped[AlertType] = mapped_column(enum_column(AlertType))
    severity: Mapped[Severity] = mapped_column(enum_column(Severity))
    status: Mapped[AlertStatus] = mapped_column(enum_column(AlertStatus), default=AlertStatus.OPEN)
    message: Mapped[str] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    dedup_key: Mapped[str] = mapped_column(sa.String(300))
    occurrences: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(default=utc_now)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(200))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(sa.String(200))
    resolution_note: Mapped[str | None] = mapped_column(sa.Text)
    auto_action: Mapped[str | None] = mapped_column(sa.Text)
    training_job_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("model_training_history.id", ondelete="SET NULL")
    )


class MonitoringPolicy(Base):
    __tablename__ = "monitoring_policies"

    machine_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True
    )
    model_type: Mapped[ModelType] = mapped_column(enum_column(ModelType), primary_key=True)
    max_cv_rmse: Mapped[float] = mapped_column(sa.Float)
    max_abs_nmbe: Mapped[float] = mapped_column(sa.Float)
    min_r_squared: Mapped[float | None] = mapped_column(sa.Float)
    psi_warning: Mapped[float] = mapped_column(sa.Float)
    psi_critical: Mapped[float] = mapped_column(sa.Float)
    auto_retrain: Mapped[bool] = mapped_column(sa.Boolean)
    retrain_cooldown_hours: Mapped[float] = mapped_column(sa.Float)
    evaluation_window_hours: Mapped[float] = mapped_column(sa.Float)
    min_samples: Mapped[int] = mapped_column(sa.Integer)
    consecutive_windows: Mapped[int] = mapped_column(sa.Integer)
    clear_windows: Mapped[int] = mapped_column(sa.Integer)
    drift_window_days: Mapped[float] = mapped_column(sa.Float)
    promote_ab_winner: Mapped[bool] = mapped_column(sa.Boolean)
    gap_intervals: Mapped[float] = mapped_column(sa.Float)
    stuck_hours: Mapped[float] = mapped_column(sa.Float)
    jump_factor: Mapped[float] = mapped_column(sa.Float)
    drift_impact_warning: Mapped[float] = mapped_column(sa.Float)
    drift_impact_critical: Mapped[float] = mapped_column(sa.Float)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_by: Mapped[str | None] = mapped_column(sa.String(200))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    token_hash: Mapped[str] = mapped_column(sa.String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str | None] = mapped_column(sa.String(200))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(default=utc_now)
    actor: Mapped[str | None] = mapped_column(sa.String(200))
    operation: Mapped[str] = mapped_column(sa.String(100))
    target_ids: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    outcome: Mapped[str] = mapped_column(sa.String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)


class ChampionChange(Base):
    """Every change of a series' champion: who, when, why, and from which version."""

    __tablename__ = "model_champion_changes"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    machine_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"))
    model_type: Mapped[ModelType] = mapped_column(enum_column(ModelType))
    from_version_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    to_version_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("model_versions.id", ondelete="CASCADE"))
    changed_at: Mapped[datetime] = mapped_column(default=utc_now)
    changed_by: Mapped[str | None] = mapped_column(sa.String(200))
    reason: Mapped[str] = mapped_column(sa.Text)


class Intervention(Base):
    """A dated change to a machine: readings before ``at`` are the baseline period, after it the reporting one.

    ``baseline_version_id`` is the BASELINE version savings are measured against, frozen when recorded
    (or when ``baseline_job_id``, a job fitting the baseline on data before ``at``, completes).
    """

    __tablename__ = "interventions"
    __table_args__ = (sa.Index("ix_interventions_machine_at", "machine_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    machine_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[InterventionKind] = mapped_column(enum_column(InterventionKind))
    description: Mapped[str] = mapped_column(sa.Text)
    baseline_version_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    baseline_job_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("model_training_history.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str | None] = mapped_column(sa.String(200))
