"""Performance metrics: evaluation rows (recorded here or by training and monitoring), history and latest values."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.column_types import json_object
from app.db.tables import METRIC_COLUMNS, PerformanceMetrics, core_table
from app.enums import MetricsSource, ModelType
from app.errors import InvalidInput, NotFound
from app.services.checks import camel_case, require_limit, require_range, require_window
from app.services.kept import Kept
from app.services.models import registry

MAX_TREND_DAYS = 3_650

#: Where a metrics row sits on data time: the end of its data window, else when it was evaluated.
DATA_TIME = sa.func.coalesce(PerformanceMetrics.window_end, PerformanceMetrics.evaluated_at)

latest_view = sa.table(
    "v_latest_model_performance",
    sa.column("id", sa.Uuid),
    sa.column("machine_id", sa.Uuid),
    sa.column("model_type", sa.String),
    *(sa.column(name, sa.Float) for name in ("r_squared", "cv_rmse", "nmbe")),
)


def _check(values: Mapping[str, float | None]) -> None:
    require_range("rSquared", values.get("r_squared"), maximum=1.0)
    for name in ("rmse", "mae", "mape", "cv_rmse"):
        require_range(camel_case(name), values.get(name), minimum=0.0)
    require_range("nmbe", values.get("nmbe"))
    for name in ("precision", "recall", "f1"):
        require_range(name, values.get(name), minimum=0.0, maximum=1.0)


def evaluation_row(
    *, metrics: Mapping[str, float | int | None], extra: Mapping[str, Any] | None = None, **identity: Any
) -> PerformanceMetrics:
    """A performance row from an evaluation's metrics: the contract's metrics in their columns, every other
    metric in ``extra`` (followed by the caller's own ``extra`` entries). ``identity`` is the row's other
    columns (series, version, source, window, sample count, ...)."""
    return PerformanceMetrics(
        **identity,
        extra={key: value for key, value in metrics.items() if key not in METRIC_COLUMNS and key != "sample_count"}
        | dict(extra or {}),
        **{column: metrics.get(column) for column in METRIC_COLUMNS},
    )


#: Every column given as a parameter of the execution (see ``record_external``).
_INSERT = sa.insert(core_table(PerformanceMetrics))


async def record_external(
    session: AsyncSession,
    *,
    machine_id: uuid.UUID,
    model_type: ModelType,
    model_version_id: uuid.UUID | None,
    window_start: datetime | None,
    window_end: datetime | None,
    sample_count: int,
    values: Mapping[str, float | None],
) -> PerformanceMetrics:
    """Metrics computed by a model trained and evaluated outside Kilowatch (source EXTERNAL).

    One INSERT, no read first: an unknown machine is reported from the foreign key's refusal (the
    caller's transaction is rolled back either way). A given version is read to check its series,
    which also proves the machine exists. The statement is built once and the row passed as its
    parameters: ``insert().values(row)`` made a new statement of 21 literal values per call, whose
    construction and cache key took ~15 % of the CPU time of a ``recordMetrics`` request.
    """
    if sample_count < 0:
        raise InvalidInput(f"sampleCount must be ≥ 0, got {sample_count}", field="sampleCount")
    _check(values)
    require_window("windowStart", window_start, "windowEnd", window_end)
    if model_version_id is not None:
        await registry.require_version_of_series(session, model_version_id, machine_id, model_type)
    columns: dict[str, Any] = {
        "id": uuid.uuid4(),
        "machine_id": machine_id,
        "model_type": model_type,
        "model_version_id": model_version_id,
        "source": MetricsSource.EXTERNAL,
        "evaluated_at": datetime.now(UTC),
        "window_start": window_start,
        "window_end": window_end,
        "sample_count": sample_count,
        "extra": {},
        "drift_detected": False,
        "drift_score": None,
        **{name: values.get(name) for name in METRIC_COLUMNS},
    }
    try:
        await session.execute(_INSERT, columns)
    except IntegrityError as error:
        raise NotFound(f"machine {machine_id} does not exist", field="machineId") from error
    return PerformanceMetrics(**columns)  # what was stored, without reading it back


async def trend(
    session: AsyncSession,
    machine_id: uuid.UUID,
    model_type: ModelType,
    days: int,
    max_points: int,
) -> Sequence[sa.Row[Any]]:
    """The last ``days`` of one series' history on data time, bucketed by the database to at most ``max_points``.

    A point's place in time is the end of the data window it describes (its evaluation time only
    when it has no window): a month of readings replayed in minutes is a month long. The span ends at
    the series' newest window end, so a history imported months later still shows its last ``days``.

    Buckets hold consecutive evaluations in data-time order and equal counts (sizes differ by at most
    one): evaluation ``i`` of ``n`` goes to bucket ``floor(i * max_points / n)``. A point is the merge
    of its bucket: the identity (id, version, source, evaluation time) of its newest evaluation, the
    union of the windows, the summed sample count, whether any evaluation saw drift and the highest
    drift score; its metrics are sample-weighted means (an evaluation of 0 samples weighs 1), and
    ``extra`` is the evaluation's own when the bucket holds one, ``{"bucketed_evaluations": n}`` when
    it merges ``n``. Each row has every field of a performance row, plus ``evaluations``.

    Numbering, bucketing and the weighted means run in one statement, so a 10,000-evaluation history
    costs a query returning ``max_points`` rows instead of 10,000 ORM objects merged in Python; and a
    trend the process computed before is answered again while the series holds the same evaluations
    (``_TRENDS``).
    """
    require_limit("days", days, MAX_TREND_DAYS)
    # On the session's connection: Core statements need none of the ORM's result machinery (~10 % of
    # a 500-point trend's CPU time when run through the session).
    connection = await session.connection()
    newest, count, last_evaluated = (await connection.execute(_SERIES_STATE, _series(machine_id, model_type))).one()
    if newest is None:
        return []
    key = (machine_id, model_type, days, max_points, _aware(newest), count, _aware(last_evaluated))
    if (kept := _TRENDS.get(key)) is not None:
        return kept
    since = _aware(newest) - timedelta(days=days)
    parameters = {**_series(machine_id, model_type), "since": since, "max_points": max_points}
    points = (await connection.execute(_TREND, parameters)).all()
    _TRENDS.keep(key, points)
    return points


#: Trends this process computed (``app.services.kept``). Evaluations are only ever added to a series
#: (no code path updates or deletes one; a machine's are deleted with it), so what a series holds is told
#: by its count, newest data time and newest evaluation time, read on every call in one statement over
#: the series' index range (~0.1 of the trend's own cost on 10,000 evaluations): a new evaluation makes
#: a new key, and dashboards that redraw the same chart between evaluations skip the bucketing.
#: A 500-point trend holds ~1 MB of Python objects; dashboards show a few series at a time.
_TRENDS: Kept[tuple[Any, ...], Sequence[sa.Row[Any]]] = Kept(size=32)


def _series(machine_id: uuid.UUID, model_type: ModelType) -> dict[str, Any]:
    return {"machine_id": machine_id, "model_type": model_type}


def _aware(instant: datetime) -> datetime:
    """SQLite returns the MAX of a timestamp column as a naive UTC value."""
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _trend_statement() -> sa.Select[Any]:
    """Built once, with bind parameters: constructing these CTEs cost more than running them.

    Each bucket's aggregates are window functions over the bucket, read on the row of its newest
    evaluation (the last position whose successor falls in another bucket). An earlier form grouped
    the buckets and joined each group back to its newest row; without fresh statistics PostgreSQL
    planned that join as a nested loop, 500 groups by 10,000 rows (2 s of a 10,000-evaluation trend).
    """
    metrics = PerformanceMetrics.__table__
    position = sa.func.row_number().over(order_by=(DATA_TIME, metrics.c.evaluated_at, metrics.c.id)) - 1
    numbered = (
        sa.select(*metrics.c, position.label("position"), sa.func.count().over().label("total"))
        .where(
            metrics.c.machine_id == sa.bindparam("machine_id"),
            metrics.c.model_type == sa.bindparam("model_type"),
            DATA_TIME > sa.bindparam("since"),
        )
        .cte("numbered")
    )
    points = sa.bindparam("max_points", type_=sa.BigInteger)

    def bucket_of(index: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.case((numbered.c.total <= points, index), else_=index * points // numbered.c.total)

    successor = numbered.c.position + 1
    bucketed = sa.select(
        numbered,
        bucket_of(numbered.c.position).label("bucket"),
        sa.or_(successor == numbered.c.total, bucket_of(successor) != bucket_of(numbered.c.position)).label(
            "newest_of_bucket"
        ),
    ).cte("bucketed")
    weight = sa.case((bucketed.c.sample_count > 1, bucketed.c.sample_count), else_=1)

    def over_bucket(aggregate: sa.FunctionElement[Any]) -> sa.Over[Any]:
        return aggregate.over(partition_by=bucketed.c.bucket)

    evaluations = over_bucket(sa.func.count())
    merged_extra = json_object(sa.literal_column("'bucketed_evaluations'"), evaluations)
    windowed = sa.select(
        *(bucketed.c[name] for name in _IDENTITY),
        bucketed.c.bucket,
        bucketed.c.newest_of_bucket,
        evaluations.label("evaluations"),
        sa.case((evaluations == 1, bucketed.c.extra), else_=merged_extra).label("extra"),
        over_bucket(sa.func.min(bucketed.c.window_start)).label("window_start"),
        over_bucket(sa.func.max(bucketed.c.window_end)).label("window_end"),
        over_bucket(sa.func.sum(bucketed.c.sample_count)).label("sample_count"),
        sa.type_coerce(
            over_bucket(sa.func.max(sa.case((bucketed.c.drift_detected, 1), else_=0))) > 0, sa.Boolean
        ).label("drift_detected"),
        over_bucket(sa.func.max(bucketed.c.drift_score)).label("drift_score"),
        *(
            (
                over_bucket(sa.func.sum(bucketed.c[name] * weight))
                # typed as a float, not an integer: dividing by an integer makes SQLAlchemy cast it to NUMERIC
                / sa.type_coerce(over_bucket(sa.func.sum(sa.case((bucketed.c[name].is_not(None), weight)))), sa.Float)
            ).label(name)
            for name in METRIC_COLUMNS
        ),
    ).cte("windowed")
    return (
        sa.select(*(column for column in windowed.c if column.name not in ("bucket", "newest_of_bucket")))
        .where(windowed.c.newest_of_bucket)
        .order_by(windowed.c.bucket)
    )


#: The columns of a trend point read from its bucket's newest evaluation.
_IDENTITY = ("id", "machine_id", "model_type", "model_version_id", "source", "evaluated_at")
_TREND = _trend_statement()
_SERIES_STATE = sa.select(sa.func.max(DATA_TIME), sa.func.count(), sa.func.max(PerformanceMetrics.evaluated_at)).where(
    PerformanceMetrics.machine_id == sa.bindparam("machine_id"),
    PerformanceMetrics.model_type == sa.bindparam("model_type"),
)


async def latest(
    session: AsyncSession, machine_id: uuid.UUID | None = None, model_type: ModelType | None = None
) -> Sequence[PerformanceMetrics]:
    """The newest evaluation of every series (through ``v_latest_model_performance``)."""
    newest_ids = sa.select(latest_view.c.id)
    if machine_id is not None:
        newest_ids = newest_ids.where(latest_view.c.machine_id == machine_id)
    if model_type is not None:
        newest_ids = newest_ids.where(latest_view.c.model_type == model_type.value)
    query = (
        sa.select(PerformanceMetrics)
        .where(PerformanceMetrics.id.in_(newest_ids))
        .order_by(PerformanceMetrics.machine_id, PerformanceMetrics.model_type)
    )
    return (await session.scalars(query)).all()


async def latest_for_series(
    session: AsyncSession, keys: Sequence[tuple[uuid.UUID, ModelType]]
) -> dict[tuple[uuid.UUID, ModelType], PerformanceMetrics]:
    machine_ids = {machine_id for machine_id, _ in keys}
    newest_ids = sa.select(latest_view.c.id).where(latest_view.c.machine_id.in_(machine_ids))
    rows = await session.scalars(sa.select(PerformanceMetrics).where(PerformanceMetrics.id.in_(newest_ids)))
    return {(row.machine_id, row.model_type): row for row in rows}


async def validation_for_versions(
    session: AsyncSession, version_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, PerformanceMetrics]:
    rows = await session.scalars(
        sa.select(PerformanceMetrics).where(
            PerformanceMetrics.model_version_id.in_(version_ids),
            PerformanceMetrics.source == MetricsSource.TRAINING_VALIDATION,
        )
    )
    return {row.model_version_id: row for row in rows if row.model_version_id is not None}
