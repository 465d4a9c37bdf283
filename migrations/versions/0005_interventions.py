"""Interventions and explicit training windows.

- interventions: dated changes to a machine (efficiency measures, equipment and operational changes,
  non-routine events) with the BASELINE version frozen for measuring savings against.
- model_training_history.train_from / train_to: a job's training window when it is not the default
  (re-learning from a change on; fitting a baseline on data before one).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("efficiency_measure", "equipment_change", "operational_change", "non_routine_event")


def upgrade() -> None:
    # Plain ADD COLUMN (native on SQLite too): a batch rebuild would break the views over this table.
    op.add_column("model_training_history", sa.Column("train_from", sa.DateTime(timezone=True)))
    op.add_column("model_training_history", sa.Column("train_to", sa.DateTime(timezone=True)))
    op.create_table(
        "interventions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("machine_id", sa.Uuid, sa.ForeignKey("machines.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*KINDS, native_enum=False, create_constraint=True, length=32, name="ck_interventionkind"),
            nullable=False,
        ),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("baseline_version_id", sa.Uuid, sa.ForeignKey("model_versions.id", ondelete="SET NULL")),
        sa.Column("baseline_job_id", sa.Uuid, sa.ForeignKey("model_training_history.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200)),
    )
    op.create_index("ix_interventions_machine_at", "interventions", ["machine_id", "at"])


def downgrade() -> None:
    op.drop_table("interventions")
    with op.batch_alter_table("model_training_history") as table:
        table.drop_column("train_to")
        table.drop_column("train_from")
