"""The latest-performance index led by the version, so the view's version-less branch reads only its rows.

Migration 0007's index led with ``machine_id``: for a page of machines, SQLite (without statistics)
found the series whose evaluations are tied to no version by walking that index over every evaluation
of those machines, a year of hourly monitoring being 35,040 entries per machine. Led by
``model_version_id``, the same index answers both of the view's branches from their own entries (a
champion's rows, or a machine's rows with no version) on both databases, and the partial index of
version-less rows is no longer needed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The view's order within a series, as migration 0007 wrote it (an expression index is used only for an
# identical expression).
VALIDATION_LAST = "CASE WHEN source = 'training_validation' THEN 1 ELSE 0 END"
DATA_TIME = "COALESCE(window_end, evaluated_at)"
ORDER = f"({VALIDATION_LAST}), ({DATA_TIME}) DESC, evaluated_at DESC, id DESC"


def upgrade() -> None:
    op.execute("DROP INDEX ix_metrics_series_latest")
    op.execute("DROP INDEX ix_metrics_versionless")
    op.execute(
        "CREATE INDEX ix_metrics_series_latest ON model_performance_metrics "
        f"(model_version_id, machine_id, model_type, {ORDER})"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_metrics_series_latest")
    op.execute(
        "CREATE INDEX ix_metrics_series_latest ON model_performance_metrics "
        f"(machine_id, model_type, model_version_id, {ORDER})"
    )
    op.execute(
        "CREATE INDEX ix_metrics_versionless ON model_performance_metrics (machine_id, model_type) "
        "WHERE model_version_id IS NULL"
    )
