"""v_latest_model_performance found per series through an index, instead of ranking every evaluation.

The view numbered every performance row of the series it was asked about (ROW_NUMBER over each
series' whole history) and kept the first: the fleet page's latest metrics for 1,000 machines with a
week of hourly evaluations each sorted 684,000 rows (2.4 s on a busy host). It now starts from the
series (each champion; each series without one that has evaluations tied to no version) and takes
one row per series from an index in the view's own order: the champion's newest evaluation on data
time, its validation when it has none. The same rows as before; a filter on ``machine_id`` reaches
both branches, so a page of machines reads only its own series.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LATEST_COLUMNS = """id, machine_id, model_type, model_version_id, source, evaluated_at, window_start, window_end,
               sample_count, r_squared, rmse, mae, mape, cv_rmse, nmbe, precision, recall, f1,
               drift_detected, drift_score"""
# The view's order within a series; the index lists the same expressions, so both databases read the
# first entry instead of sorting (SQLite matches an expression index only on an identical expression).
VALIDATION_LAST = "CASE WHEN source = 'training_validation' THEN 1 ELSE 0 END"
DATA_TIME = "COALESCE(window_end, evaluated_at)"
SERIES_INDEX = f"""
        CREATE INDEX ix_metrics_series_latest ON model_performance_metrics
        (machine_id, model_type, model_version_id, ({VALIDATION_LAST}), ({DATA_TIME}) DESC, evaluated_at DESC, id DESC)
        """
# Unqualified columns are the inner table's: the outer series is ``c`` or ``s``.
NEWEST = f"""
            SELECT id FROM model_performance_metrics
            WHERE machine_id = {{series}}.machine_id AND model_type = {{series}}.model_type AND {{version}}
            ORDER BY ({VALIDATION_LAST}), ({DATA_TIME}) DESC, evaluated_at DESC, id DESC
            LIMIT 1"""
NEW_LATEST_VIEW = f"""
        CREATE VIEW v_latest_model_performance AS
        SELECT m.id, series.machine_id, series.model_type, m.model_version_id, m.source, m.evaluated_at,
               m.window_start, m.window_end, m.sample_count, m.r_squared, m.rmse, m.mae, m.mape, m.cv_rmse, m.nmbe,
               m.precision, m.recall, m.f1, m.drift_detected, m.drift_score
        FROM (
            SELECT c.machine_id, c.model_type, ({NEWEST.format(series="c", version="model_version_id = c.id")}
            ) AS latest_id
            FROM model_versions c
            WHERE c.stage = 'champion'
            UNION ALL
            SELECT s.machine_id, s.model_type, ({NEWEST.format(series="s", version="model_version_id IS NULL")}
            ) AS latest_id
            FROM (
                SELECT DISTINCT machine_id, model_type FROM model_performance_metrics WHERE model_version_id IS NULL
            ) s
            WHERE NOT EXISTS (
                SELECT 1 FROM model_versions c
                WHERE c.machine_id = s.machine_id AND c.model_type = s.model_type AND c.stage = 'champion'
            )
        ) series
        JOIN model_performance_metrics m ON m.id = series.latest_id
        """
# Migration 0004's definition: rows of the champion (or, for a series without one, rows tied to no
# version), evaluations before validation, newest window end first.
OLD_LATEST_VIEW = f"""
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


def upgrade() -> None:
    op.execute(SERIES_INDEX)
    op.execute(
        "CREATE INDEX ix_metrics_versionless ON model_performance_metrics (machine_id, model_type) "
        "WHERE model_version_id IS NULL"
    )
    op.execute("DROP VIEW IF EXISTS v_latest_model_performance")
    op.execute(NEW_LATEST_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS v_latest_model_performance")
    op.execute(OLD_LATEST_VIEW)
    op.execute("DROP INDEX ix_metrics_versionless")
    op.execute("DROP INDEX ix_metrics_series_latest")
