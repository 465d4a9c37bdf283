"""Monitoring windows, A/B decision design and webhook deliveries.

- monitoring_policies: evaluation window, minimum samples, consecutive bad windows before DEGRADATION,
  clear windows before auto-resolving, data-drift window, and whether an A/B winner is promoted.
- model_ab_tests: whether early (sequential) decisions are allowed and the planned sample size the
  confidence sequence is tuned for; both fixed for the life of a test.
- alert_notifications: one row per alert and webhook URL, retried with backoff until delivered.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # Plain ADD COLUMN (native on SQLite too): a batch rebuild would break the views over these tables.
    for column in (
        sa.Column("evaluation_window_hours", sa.Float, nullable=False, server_default="24"),
        sa.Column("min_samples", sa.Integer, nullable=False, server_default="24"),
        sa.Column("consecutive_windows", sa.Integer, nullable=False, server_default="3"),
        sa.Column("clear_windows", sa.Integer, nullable=False, server_default="2"),
        sa.Column("drift_window_days", sa.Float, nullable=False, server_default="7"),
        sa.Column("promote_ab_winner", sa.Boolean, nullable=False, server_default=sa.false()),
    ):
        op.add_column("monitoring_policies", column)
    op.add_column("model_ab_tests", sa.Column("sequential", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("model_ab_tests", sa.Column("planned_samples", sa.Integer))
    op.create_table(
        "alert_notifications",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("alert_id", sa.Uuid, sa.ForeignKey("model_alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "failed",
                native_enum=False,
                create_constraint=True,
                length=32,
                name="ck_notificationstatus",
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_notifications_status_next", "alert_notifications", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("alert_notifications")
    with op.batch_alter_table("model_ab_tests") as table:
        table.drop_column("planned_samples")
        table.drop_column("sequential")
    with op.batch_alter_table("monitoring_policies") as table:
        for column in (
            "promote_ab_winner",
            "drift_window_days",
            "clear_windows",
            "consecutive_windows",
            "min_samples",
            "evaluation_window_hours",
        ):
            table.drop_column(column)
