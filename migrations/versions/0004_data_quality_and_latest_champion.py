"""Data-quality alerts, their policy thresholds, and the champion's latest performance.

- model_alerts.alert_type accepts 'data_quality'.
- monitoring_policies: gap allowance in usual reading intervals, longest tolerated identical run in
  hours, jump factor over the machine's usual steps, and the data-drift impact thresholds (implied
  prediction shift in residual standard deviations).
- machines.quality_checked_to: the newest reading the data-quality check has seen, so each
  monitoring pass checks only new readings (plus a bounded look-back).
- v_latest_model_performance: a series' latest performance is its champion's latest evaluation on
  data time (window end), or the champion's validation while it has none; never a candidate's.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ALERT_TYPES = ("drift", "degradation", "training_failed", "ab_test_completed")
NEW_ALERT_TYPES = (*OLD_ALERT_TYPES, "data_quality")
UNRESOLVED_ALERTS_VIEW = """
        CREATE VIEW v_unresolved_model_alerts AS
        SELECT id, machine_id, model_type, alert_type, severity, status, message, details, occurrences,
               created_at, last_seen_at, acknowledged_at, auto_action, training_job_id,
               CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END AS severity_order
        FROM model_alerts
        WHERE status IN ('open', 'acknowledged')
        ORDER BY severity_order, last_seen_at DESC
        """
LATEST_COLUMNS = """id, machine_id, model_type, model_version_id, source, evaluated_at, window_start, window_end,
               sample_count, r_squared, rmse, mae, mape, cv_rmse, nmbe, precision, recall, f1,
               drift_detected, drift_score"""
OLD_LATEST_VIEW = f"""
        CREATE VIEW v_latest_model_performance AS
        SELECT {LATEST_COLUMNS}
        FROM (
            SELECT m.*, ROW_NUMBER() OVER (
                PARTITION BY machine_id, model_type ORDER BY evaluated_at DESC, id DESC) AS recency
            FROM model_performance_metrics m
        ) ranked
        WHERE recency = 1
        """
# Rows of the champion (or, for a series without one, rows tied to no version: external metrics),
# evaluations before validation, newest window end first.
NEW_LATEST_VIEW = f"""
        CREATE VIEW v_latest_model_performance AS
        SELECT {LATEST_COLUMNS}
        FROM (
            SELECT m.*, ROW_NUMBER() OVER (
                PARTITION BY m.machine_id, m.model_type
                ORDER BY CASE WHEN m.source = 'training_validation' THEN 1 ELSE 0 END,
                         COALESCE(m.window_end, m.evaluated_at) DESC, m.evaluated_at DESC, m.id DESC
            ) AS recency
            FROM model_performance_metrics m
            LEFT JOIN model_versions champion
              ON champion.machine_id = m.machine_id AND champion.model_type = m.model_type
             AND champion.stage = 'champion'
            WHERE (champion.id IS NOT NULL AND m.model_version_id = champion.id)
               OR (champion.id IS NULL AND m.model_version_id IS NULL)
        ) ranked
        WHERE recency = 1
        """


def _alert_types(values: tuple[str, ...]) -> None:
    """Replace the alert-type CHECK; SQLite rebuilds the table, so its view and partial index go and return."""
    op.execute("DROP VIEW IF EXISTS v_unresolved_model_alerts")
    op.drop_index("uq_alerts_one_unresolved_per_key", table_name="model_alerts")
    quoted = ", ".join(f"'{value}'" for value in values)
    with op.batch_alter_table("model_alerts") as table:
        table.drop_constraint("ck_alerttype", type_="check")
        table.create_check_constraint("ck_alerttype", sa.text(f"alert_type IN ({quoted})"))
    where = "status IN ('open', 'acknowledged')"
    op.create_index(
        "uq_alerts_one_unresolved_per_key",
        "model_alerts",
        ["dedup_key"],
        unique=True,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )
    op.execute(UNRESOLVED_ALERTS_VIEW)


def upgrade() -> None:
    _alert_types(NEW_ALERT_TYPES)
    for column in (
        sa.Column("gap_intervals", sa.Float, nullable=False, server_default="6"),
        sa.Column("stuck_hours", sa.Float, nullable=False, server_default="6"),
        sa.Column("jump_factor", sa.Float, nullable=False, server_default="4"),
        sa.Column("drift_impact_warning", sa.Float, nullable=False, server_default="2"),
        sa.Column("drift_impact_critical", sa.Float, nullable=False, server_default="4"),
    ):
        op.add_column("monitoring_policies", column)
    op.add_column("machines", sa.Column("quality_checked_to", sa.DateTime(timezone=True)))
    op.execute("DROP VIEW IF EXISTS v_latest_model_performance")
    op.execute(NEW_LATEST_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS v_latest_model_performance")
    op.execute(OLD_LATEST_VIEW)
    with op.batch_alter_table("machines") as table:
        table.drop_column("quality_checked_to")
    with op.batch_alter_table("monitoring_policies") as table:
        for column in ("drift_impact_critical", "drift_impact_warning", "jump_factor", "stuck_hours", "gap_intervals"):
            table.drop_column(column)
    op.execute("DELETE FROM model_alerts WHERE alert_type = 'data_quality'")
    _alert_types(OLD_ALERT_TYPES)
