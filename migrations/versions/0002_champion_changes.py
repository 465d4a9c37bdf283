"""Champion history: every promotion, automatic or by hand, with who, when, why and the previous champion.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MODEL_TYPES = ("baseline", "anomaly", "forecast_arima", "forecast_prophet")


def upgrade() -> None:
    op.create_table(
        "model_champion_changes",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("machine_id", sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "model_type",
            sa.Enum(*MODEL_TYPES, native_enum=False, create_constraint=True, length=32, name="ck_modeltype"),
            nullable=False,
        ),
        sa.Column("from_version_id", sa.Uuid, sa.ForeignKey("model_versions.id", ondelete="SET NULL")),
        sa.Column("to_version_id", sa.Uuid, sa.ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(200)),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_champion_changes_series_changed", "model_champion_changes", ["machine_id", "model_type", "changed_at"]
    )


def downgrade() -> None:
    op.drop_table("model_champion_changes")
