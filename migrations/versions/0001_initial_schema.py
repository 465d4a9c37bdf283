"""Initial schema: every table, partial unique index and view (see ``app/db/tables.py``).

Written by hand: the partial unique indexes carry the system's invariants and autogenerate cannot see
them. The statements are portable between PostgreSQL and SQLite.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from app.db.tables import (
    ACTIVE_JOB_CONDITION,
    ONE_CHAMPION_CONDITION,
    RUNNING_AB_TEST_CONDITION,
    UNRESOLVED_ALERT_CONDITION,
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
MODEL_TYPES = ("baseline", "anomaly", "forecast_arima", "forecast_prophet")


def ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, native_enum=False, create_constraint=True, length=32, name=f"ck_{name}")


def uuid_fk(name: str, target: str, nullable: bool = False, ondelete: str = "CASCADE") -> sa.Column:
    return sa.Column(name, sa.Uuid, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable)


def model_type() -> sa.Column:
    return sa.Column("model_type", enum("modeltype", *MODEL_TYPES), nullable=False)


def partial_unique(name: str, table: str, columns: list[str], where: str) -> None:
    op.create_index(name, table, columns, unique=True, postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def upgrade() -> None:
    op.create_table(
        "machines",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        ts("created_at", nullable=False),
    )
    op.create_table(
        "energy_readings",
        uuid_fk("machine_id", "machines.id"),
        ts("ts", nullable=False),
        sa.Column("energy_kwh", sa.Float, nullable=False),
        sa.Column("production_units", sa.Float),
        sa.Column("outdoor_temp_c", sa.Float),
        sa.Column("is_anomaly", sa.Boolean),
        sa.PrimaryKeyConstraint("machine_id", "ts", name="pk_energy_readings"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Uuid, primary_key=True),
        uuid_fk("machine_id", "machines.id"),
        model_type(),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("stage", enum("versionstage", "candidate", "champion", "archived"), nullable=False),
        ts("created_at", nullable=False),
        sa.Column("artifact", sa.LargeBinary, nullable=False),
        sa.Column("features", JSON, nullable=False),
        sa.Column("hyperparameters", JSON, nullable=False),
        ts("trained_from", nullable=False),
        ts("trained_to", nullable=False),
        sa.Column("training_rows", sa.Integer, nullable=False),
        sa.Column("reference_profile", JSON, nullable=False),
        sa.Column("training_job_id", sa.Uuid),
        sa.UniqueConstraint("machine_id", "model_type", "version", name="uq_model_versions_series_version"),
    )
    partial_unique(
        "uq_model_versions_one_champion", "model_versions", ["machine_id", "model_type"], ONE_CHAMPION_CONDITION
    )

    op.create_table(
        "model_training_history",
        sa.Column("id", sa.Uuid, primary_key=True),
        uuid_fk("machine_id", "machines.id"),
        model_type(),
        sa.Column("trigger_type", enum("triggertype", "manual", "scheduled", "drift", "degradation"), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column(
            "status", enum("jobstatus", "pending", "running", "completed", "failed", "cancelled"), nullable=False
        ),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("progress_step", sa.String(64)),
        ts("created_at", nullable=False),
        ts("started_at"),
        ts("finished_at"),
        ts("heartbeat_at"),
        sa.Column("duration_seconds", sa.Float),
        sa.Column("error_message", sa.Text),
        uuid_fk("model_version_id", "model_versions.id", nullable=True, ondelete="SET NULL"),
        sa.Column("improvement", sa.Float),
        sa.Column("requested_by", sa.String(200)),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("worker_id", sa.String(200)),
    )
    partial_unique(
        "uq_training_one_active_job",
        "model_training_history",
        ["machine_id", "model_type"],
        ACTIVE_JOB_CONDITION,
    )
    op.create_index("ix_training_series_created", "model_training_history", ["machine_id", "model_type", "created_at"])
    op.create_index("ix_training_status_created", "model_training_history", ["status", "created_at"])
    op.create_index("ix_training_created", "model_training_history", ["created_at"])

    op.create_table(
        "model_performance_metrics",
        sa.Column("id", sa.Uuid, primary_key=True),
        uuid_fk("machine_id", "machines.id"),
        model_type(),
        uuid_fk("model_version_id", "model_versions.id", nullable=True, ondelete="SET NULL"),
        sa.Column("source", enum("metricssource", "training_validation", "monitoring", "external"), nullable=False),
        ts("evaluated_at", nullable=False),
        ts("window_start"),
        ts("window_end"),
        sa.Column("sample_count", sa.Integer, nullable=False),
        *(
            sa.Column(name, sa.Float)
            for name in ("r_squared", "rmse", "mae", "mape", "cv_rmse", "nmbe", "precision", "recall", "f1")
        ),
        sa.Column("extra", JSON, nullable=False),
        sa.Column("drift_detected", sa.Boolean, nullable=False),
        sa.Column("drift_score", sa.Float),
    )
    op.create_index(
        "ix_metrics_series_evaluated", "model_performance_metrics", ["machine_id", "model_type", "evaluated_at"]
    )
    op.create_index("ix_metrics_version_source", "model_performance_metrics", ["model_version_id", "source"])

    op.create_table(
        "drift_reports",
        sa.Column("id", sa.Uuid, primary_key=True),
        uuid_fk("machine_id", "machines.id"),
        model_type(),
        uuid_fk("model_version_id", "model_versions.id"),
        ts("checked_at", nullable=False),
        ts("window_start", nullable=False),
        ts("window_end", nullable=False),
        sa.Column("sample_count", sa.Integer, nullable=False),
        sa.Column("drift_detected", sa.Boolean, nullable=False),
        sa.Column("drift_score", sa.Float, nullable=False),
        sa.Column("features", JSON, nullable=False),
        sa.Column("concept", JSON, nullable=False),
    )
    op.create_index("ix_drift_series_checked", "drift_reports", ["machine_id", "model_type", "checked_at"])

    op.create_table(
        "model_ab_tests",
        sa.Column("id", sa.Uuid, primary_key=True),
        uuid_fk("machine_id", "machines.id"),
        model_type(),
        sa.Column("model_a_id", sa.Uuid, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("model_b_id", sa.Uuid, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("traffic_split", sa.Float, nullable=False),
        sa.Column("status", enum("abteststatus", "running", "completed", "stopped"), nullable=False),
        ts("started_at", nullable=False),
        ts("ends_at", nullable=False),
        ts("finished_at"),
        sa.Column("min_samples", sa.Integer, nullable=False),
        sa.Column("significance", sa.Float, nullable=False),
        sa.Column("results", JSON, nullable=False),
        sa.Column("winner", sa.String(1)),
        sa.Column("started_by", sa.String(200)),
    )
    partial_unique("uq_ab_tests_one_running", "model_ab_tests", ["machine_id", "model_type"], RUNNING_AB_TEST_CONDITION)
    op.create_index("ix_ab_tests_status_started", "model_ab_tests", ["status", "started_at"])

    op.create_table(
        "predictions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        uuid_fk("machine_id", "machines.id"),
        model_type(),
        ts("ts", nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        uuid_fk("model_version_id", "model_versions.id"),
        uuid_fk("ab_test_id", "model_ab_tests.id", nullable=True),
        sa.Column("arm", sa.String(1)),
        ts("created_at", nullable=False),
    )
    op.create_index("ix_predictions_series_ts", "predictions", ["machine_id", "model_type", "ts"])
    op.create_index("ix_predictions_ab_test_arm", "predictions", ["ab_test_id", "arm"])

    op.create_table(
        "model_alerts",
        sa.Column("id", sa.Uuid, primary_key=True),
        uuid_fk("machine_id", "machines.id"),
        model_type(),
        sa.Column(
            "alert_type",
            enum("alerttype", "drift", "degradation", "training_failed", "ab_test_completed"),
            nullable=False,
        ),
        sa.Column("severity", enum("severity", "info", "warning", "critical"), nullable=False),
        sa.Column("status", enum("alertstatus", "open", "acknowledged", "resolved"), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("dedup_key", sa.String(300), nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False),
        ts("created_at", nullable=False),
        ts("last_seen_at", nullable=False),
        ts("acknowledged_at"),
        sa.Column("acknowledged_by", sa.String(200)),
        ts("resolved_at"),
        sa.Column("resolved_by", sa.String(200)),
        sa.Column("resolution_note", sa.Text),
        sa.Column("auto_action", sa.Text),
        uuid_fk("training_job_id", "model_training_history.id", nullable=True, ondelete="SET NULL"),
    )
    partial_unique("uq_alerts_one_unresolved_per_key", "model_alerts", ["dedup_key"], UNRESOLVED_ALERT_CONDITION)
    op.create_index("ix_alerts_series_status", "model_alerts", ["machine_id", "model_type", "status"])
    op.create_index("ix_alerts_status_created", "model_alerts", ["status", "created_at"])
    op.create_index("ix_alerts_created", "model_alerts", ["created_at"])

    op.create_table(
        "monitoring_policies",
        uuid_fk("machine_id", "machines.id"),
        model_type(),
        sa.Column("max_cv_rmse", sa.Float, nullable=False),
        sa.Column("max_abs_nmbe", sa.Float, nullable=False),
        sa.Column("min_r_squared", sa.Float),
        sa.Column("psi_warning", sa.Float, nullable=False),
        sa.Column("psi_critical", sa.Float, nullable=False),
        sa.Column("auto_retrain", sa.Boolean, nullable=False),
        sa.Column("retrain_cooldown_hours", sa.Float, nullable=False),
        ts("updated_at", nullable=False),
        sa.Column("updated_by", sa.String(200)),
        sa.PrimaryKeyConstraint("machine_id", "model_type", name="pk_monitoring_policies"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", enum("role", "viewer", "operator", "admin"), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
        ts("created_at", nullable=False),
        sa.Column("created_by", sa.String(200)),
        ts("last_used_at"),
        ts("revoked_at"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        ts("at", nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("target_ids", JSON, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("details", JSON, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])

    op.execute(
        """
        CREATE VIEW v_latest_model_performance AS
        SELECT id, machine_id, model_type, model_version_id, source, evaluated_at, window_start, window_end,
               sample_count, r_squared, rmse, mae, mape, cv_rmse, nmbe, precision, recall, f1,
               drift_detected, drift_score
        FROM (
            SELECT m.*, ROW_NUMBER() OVER (
                PARTITION BY machine_id, model_type ORDER BY evaluated_at DESC, id DESC) AS recency
            FROM model_performance_metrics m
        ) ranked
        WHERE recency = 1
        """
    )
    op.execute(
        f"""
        CREATE VIEW v_active_ab_tests AS
        SELECT id, machine_id, model_type, model_a_id, model_b_id, traffic_split, started_at, ends_at,
               min_samples, significance, results, winner
        FROM model_ab_tests
        WHERE {RUNNING_AB_TEST_CONDITION}
        """
    )
    op.execute(
        f"""
        CREATE VIEW v_unresolved_model_alerts AS
        SELECT id, machine_id, model_type, alert_type, severity, status, message, details, occurrences,
               created_at, last_seen_at, acknowledged_at, auto_action, training_job_id,
               CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END AS severity_order
        FROM model_alerts
        WHERE {UNRESOLVED_ALERT_CONDITION}
        ORDER BY severity_order, last_seen_at DESC
        """
    )


def downgrade() -> None:
    for view in ("v_unresolved_model_alerts", "v_active_ab_tests", "v_latest_model_performance"):
        op.execute(f"DROP VIEW IF EXISTS {view}")
    for table in (
        "audit_log",
        "api_tokens",
        "monitoring_policies",
        "model_alerts",
        "predictions",
        "model_ab_tests",
        "drift_reports",
        "model_performance_metrics",
        "model_training_history",
        "model_versions",
        "energy_readings",
        "machines",
    ):
        op.drop_table(table)
