"""Health of series and machines, and the fleet page: machines worst first, filtered, a page at a time.

A series is CRITICAL when a CRITICAL alert about its model is unresolved or its latest evaluation is
outside its monitoring policy (CV(RMSE) above the maximum, |NMBE| above the maximum, R² below a
minimum where the policy sets one: the judgement the dashboard shows beside those numbers); WARNING
when a WARNING alert is unresolved; NO_DATA when it has no evaluation yet; OK otherwise. Data drift
counts through its alerts: monitoring raises one when a shift matters to the model, while a drift
score alone also moves with the seasons. A machine's health is its worst series', or worse where an
alert about its readings (``MACHINE_ALERT_TYPES``) is unresolved.

The fleet page judges every series of the fleet from two reads that each cover the whole fleet in one
statement (every machine with its series' latest evaluations judged against their limits by the
database, ``_FLEET_METRICS``; severities of unresolved alerts), orders and filters the machines, and
reads what a page shows (reading statistics, alerts about readings,
champions, full metrics rows, model alerts, policies) for that page's machines only: the same statements whatever the
size of the fleet, and rows for one page.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db.driver_reads import fetch_all
from app.db.tables import Alert, Machine, ModelVersion, MonitoringPolicy, PerformanceMetrics
from app.enums import FleetOrder, Health, ModelType, Severity
from app.errors import InvalidInput
from app.services.alerting import alerts
from app.services.fleet import reading_stats
from app.services.fleet.reading_stats import ReadingStats
from app.services.kept import Kept
from app.services.models import registry
from app.services.tracking import performance, policies
from app.services.tracking.policies import DEFAULT_POLICY, Policy

_NONE: dict[ModelType, Any] = {}
#: Worst first: the order of the fleet page and of ``Health``'s members.
HEALTH_RANK = {health: rank for rank, health in enumerate(Health)}
_ALERT_HEALTH = {Severity.CRITICAL: Health.CRITICAL, Severity.WARNING: Health.WARNING}
MAX_NAME_FILTER_LENGTH = 200


class Metrics(Protocol):
    """The metrics health is judged on (a performance row)."""

    @property
    def r_squared(self) -> float | None: ...
    @property
    def cv_rmse(self) -> float | None: ...
    @property
    def nmbe(self) -> float | None: ...


class MetricLimits(Protocol):
    """A policy's limits on those metrics (``PolicySettings``)."""

    @property
    def max_cv_rmse(self) -> float: ...
    @property
    def max_abs_nmbe(self) -> float: ...
    @property
    def min_r_squared(self) -> float | None: ...


def outside_policy(latest: Metrics, limits: MetricLimits) -> bool:
    """The rule ``_outside_policy_sql`` states in SQL for the whole fleet (a test holds them equal)."""
    return (
        (latest.cv_rmse is not None and latest.cv_rmse > limits.max_cv_rmse)
        or (latest.nmbe is not None and abs(latest.nmbe) > limits.max_abs_nmbe)
        or (
            limits.min_r_squared is not None
            and latest.r_squared is not None
            and latest.r_squared < limits.min_r_squared
        )
    )


def series_health(latest: Metrics | None, limits: MetricLimits, severities: Collection[Severity]) -> Health:
    """One series' health from its latest evaluation, its policy's limits and its model alerts' severities."""
    if latest is None:
        return _with_alerts(Health.NO_DATA, severities)
    return _with_alerts(Health.CRITICAL if outside_policy(latest, limits) else Health.OK, severities)


def _with_alerts(judged: Health, severities: Collection[Severity]) -> Health:
    """The health judged from the metrics, or worse for the series' unresolved model alerts."""
    return worst([judged, *alert_healths(severities)]) if severities else judged


def machine_health(series: Iterable[Health], readings_alerts: Iterable[Severity]) -> Health:
    """A machine's: its worst series', or worse for an unresolved alert about its readings."""
    return worst([*series, *alert_healths(readings_alerts)])


def alert_healths(severities: Iterable[Severity]) -> list[Health]:
    return [_ALERT_HEALTH[severity] for severity in severities if severity in _ALERT_HEALTH]


def worst(healths: Iterable[Health]) -> Health:
    return min(healths, key=HEALTH_RANK.__getitem__, default=Health.NO_DATA)


@dataclass(frozen=True, slots=True)
class SeriesOverview:
    model_type: ModelType
    health: Health
    champion: ModelVersion | None
    latest: PerformanceMetrics | None
    open_alerts: list[Alert]
    policy: Policy


@dataclass(frozen=True, slots=True)
class MachineOverview:
    id: uuid.UUID
    name: str
    created_at: datetime
    health: Health
    readings: ReadingStats
    #: Unresolved alerts about the machine's readings (``alerts.open_alerts_of_machines``).
    open_alerts: list[Alert]
    series: list[SeriesOverview]


@dataclass(frozen=True, slots=True)
class HealthCount:
    health: Health
    machines: int
    series: int


@dataclass(frozen=True, slots=True)
class FleetPage:
    machines: list[MachineOverview]
    #: Machines that match the filters, on every page.
    total: int
    #: Machines and series in each health over the whole fleet, whatever the filters.
    counts: list[HealthCount]


@dataclass(frozen=True, slots=True)
class _Judged:
    id: uuid.UUID
    name: str
    created_at: datetime
    health: Health
    series: dict[ModelType, Health]


async def fleet_page(
    engine: AsyncEngine,
    session: AsyncSession,
    *,
    healths: Collection[Health] | None,
    name_contains: str | None,
    order: FleetOrder,
    offset: int,
    limit: int,
) -> FleetPage:
    """Machines matching ``healths`` (their worst series') and ``name_contains`` (case-insensitive), in
    ``order``, from ``offset``, at most ``limit`` of them. ``engine`` runs the whole-fleet reads through
    the driver (the read engine: ``app.db.engine.read_engine``), ``session`` the page's."""
    if offset < 0:
        raise InvalidInput(f"offset must be ≥ 0, got {offset}", field="offset")
    if name_contains is not None and len(name_contains) > MAX_NAME_FILTER_LENGTH:
        raise InvalidInput(f"nameContains must be at most {MAX_NAME_FILTER_LENGTH} characters", field="nameContains")
    judged, counts = await _judged_fleet(engine)
    needle = name_contains.casefold() if name_contains else None
    matching = [
        machine
        for machine in judged
        if (not healths or machine.health in healths) and (needle is None or needle in machine.name.casefold())
    ]
    if order is FleetOrder.WORST_FIRST:  # judged is in name order, which the stable sort keeps within a rank
        matching.sort(key=lambda machine: HEALTH_RANK[machine.health])
    page = matching[offset : offset + limit]
    return FleetPage(machines=await _details(session, page), total=len(matching), counts=counts)


def _outside_policy_sql(latest: Any, policy: Any) -> sa.ColumnElement[Any]:
    """``outside_policy`` in SQL, on a row of ``v_latest_model_performance`` and its series' stored policy
    (``DEFAULT_POLICY``'s limits where none is stored). A comparison with a NULL metric or limit is not
    true, as ``None`` fails the Python rule's ``is not None`` guards."""

    stored = policy.c.machine_id.is_not(None)

    def limit(name: str) -> sa.ColumnElement[Any]:
        default = getattr(DEFAULT_POLICY, name)
        # A literal, not a bound parameter: the statement must stay parameterless for the driver's path.
        constant = sa.null() if default is None else sa.cast(sa.literal_column(repr(float(default))), sa.Float)
        return sa.case((stored, policy.c[name]), else_=constant)

    return sa.or_(
        latest.c.cv_rmse > limit("max_cv_rmse"),
        sa.func.abs(latest.c.nmbe) > limit("max_abs_nmbe"),
        latest.c.r_squared < limit("min_r_squared"),
    )


def _fleet_metrics_statement() -> sa.Select[Any]:
    """Every machine (``id``, ``name``, ``created_at``, by name) and, per model type in ``ModelType``'s
    order, a column that is NULL when the series has no evaluation, 1 when its latest one is outside its
    policy, 0 otherwise.

    The database judges each series where its latest row is: read into Python, the 4,000 latest rows of a
    1,000-machine fleet, the stored limits and the machines cost the API ~10 ms of CPU per fleet page more
    than these 1,000 rows (``docs/scaling.md``), for ~4 ms more of the database's.
    """
    latest = performance.latest_view
    policy = MonitoringPolicy.__table__
    machine = Machine.__table__
    outside = _outside_policy_sql(latest, policy)
    judged = (
        sa.select(
            latest.c.machine_id,
            latest.c.model_type,
            sa.case((outside, sa.literal_column("1")), else_=sa.literal_column("0")).label("code"),
        )
        .select_from(
            latest.outerjoin(
                policy, sa.and_(policy.c.machine_id == latest.c.machine_id, policy.c.model_type == latest.c.model_type)
            )
        )
        .subquery("judged")
    )

    def code_of(model_type: ModelType) -> sa.ColumnElement[int]:
        of_type = judged.c.model_type == sa.literal_column(f"'{model_type.value}'")
        return sa.type_coerce(sa.func.max(sa.case((of_type, judged.c.code))), sa.Integer).label(model_type.value)

    return (
        sa.select(machine.c.id, machine.c.name, machine.c.created_at, *(code_of(t) for t in ModelType))
        .select_from(machine.outerjoin(judged, judged.c.machine_id == machine.c.id))
        .group_by(machine.c.id, machine.c.name, machine.c.created_at)
        .order_by(machine.c.name)
    )


#: Built once and parameterless, so the database driver runs it (``app.db.driver_reads``).
_FLEET_METRICS = _fleet_metrics_statement()
#: A series' health from its code in ``_FLEET_METRICS``.
_METRIC_HEALTH = {None: Health.NO_DATA, 0: Health.OK, 1: Health.CRITICAL}
#: ``ModelType``'s members once: iterating the enum runs a generator per pass (~5 µs a machine here).
_MODEL_TYPES = tuple(ModelType)


#: PostgreSQL's snapshot (``xmin:xmax:in-progress xids``), read as text: a transaction that wrote anything
#: has an id, and its end moves ``xmax`` past it or takes it off the in-progress list, so the snapshot
#: stays the same exactly while no write of any transaction has become visible (anywhere in the cluster:
#: writes to other databases change it too, which only costs a judgement).
_SNAPSHOT = sa.select(sa.cast(sa.func.pg_current_snapshot(), sa.Text).label("snapshot"))
#: The fleet's judgement and counts, per database and snapshot. One entry: a process serves one database;
#: 1,000 machines hold ~1 MB of Python objects.
_JUDGED: Kept[tuple[Any, str], tuple[list[_Judged], list[HealthCount]]] = Kept(size=1)


async def _judged_fleet(engine: AsyncEngine) -> tuple[list[_Judged], list[HealthCount]]:
    """The whole fleet judged, and its counts; on PostgreSQL judged again only when a write became visible.

    The snapshot is read before the judgement's statements: whatever they saw was at least as new as it,
    and a write that became visible after it changes the snapshot the next call reads, so a kept
    judgement is always what the statements would return now. Between writes a page costs that
    statement and its own reads; the database's judgement of every series is most of its cost
    (``docs/scaling.md``). SQLite has no such snapshot: there the fleet is judged on every page.
    """
    if engine.dialect.name != "postgresql":
        judged = await _judge_fleet(engine)
        return judged, _counts(judged)
    ((snapshot,),) = await fetch_all(engine, _SNAPSHOT)
    key = (engine.url, snapshot)
    if (kept := _JUDGED.get(key)) is not None:
        return kept
    judged = await _judge_fleet(engine)
    answer = (judged, _counts(judged))
    _JUDGED.keep(key, answer)
    return answer


async def _judge_fleet(engine: AsyncEngine) -> list[_Judged]:
    rows = await fetch_all(engine, _FLEET_METRICS)
    severities = await alerts.unresolved_severities(engine)
    judged = []
    for machine_id, name, created_at, *codes in rows:
        series = dict(zip(_MODEL_TYPES, map(_METRIC_HEALTH.__getitem__, codes), strict=True))
        for model_type, its_severities in severities.series.get(machine_id, _NONE).items():
            series[model_type] = _with_alerts(series[model_type], its_severities)
        health = machine_health(series.values(), severities.machines.get(machine_id, ()))
        judged.append(_Judged(machine_id, name, created_at, health, series))
    return judged


def _counts(judged: list[_Judged]) -> list[HealthCount]:
    machine_counts = Counter(machine.health for machine in judged)
    series_counts = Counter(health for machine in judged for health in machine.series.values())
    return [HealthCount(health, machine_counts[health], series_counts[health]) for health in Health]


async def _details(session: AsyncSession, page: list[_Judged]) -> list[MachineOverview]:
    if not page:
        return []
    keys = [(machine.id, model_type) for machine in page for model_type in _MODEL_TYPES]
    machine_ids = [machine.id for machine in page]
    stats = await reading_stats.of_machines(session, machine_ids)
    readings_alerts = await alerts.open_alerts_of_machines(session, machine_ids)
    champions = await registry.champions(session, keys)
    latest = await performance.latest_for_series(session, keys)
    open_alerts = await alerts.open_alerts_of_series(session, keys)
    stored = await policies.get_many(session, keys)
    return [
        MachineOverview(
            id=machine.id,
            name=machine.name,
            created_at=machine.created_at,
            health=machine.health,
            readings=stats[machine.id],
            open_alerts=readings_alerts[machine.id],
            series=[
                SeriesOverview(
                    model_type=model_type,
                    health=health,
                    champion=champions.get((machine.id, model_type)),
                    latest=latest.get((machine.id, model_type)),
                    open_alerts=open_alerts[(machine.id, model_type)],
                    policy=stored[(machine.id, model_type)],
                )
                for model_type, health in machine.series.items()
            ],
        )
        for machine in page
    ]
