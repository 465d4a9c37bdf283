"""The fleet page: health per series and machine, order, filters and pages, the same data as the machines
list, and a number of statements that does not grow with the fleet."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from app.db import sqlite_reads
from app.db.engine import transaction
from app.db.tables import Machine, ModelVersion, PerformanceMetrics
from app.enums import AlertType, MetricsSource, ModelType, Severity, VersionStage
from app.runtime.resources import Resources
from app.services.alerting import alerts
from app.services.fleet import ingest
from app.services.tracking import performance, policies
from tests.support import data_of, error_of, graphql

START = datetime(2026, 3, 1, tzinfo=UTC)
SERIES_FIELDS = """modelType health champion { id version }
  latestPerformance { id source windowEnd modelVersion sampleCount rSquared cvRmse nmbe driftScore }
  openAlerts { id severity alertType } policy { maxCvRmse maxAbsNmbe minRSquared psiWarning isDefault }"""
MACHINE_FIELDS = f"""id name health readingsCount firstReadingAt lastReadingAt openAlerts {{ id alertType }}
  models {{ {SERIES_FIELDS} }}"""
FLEET = f"""query($health: [Health!], $name: String, $order: FleetOrder, $offset: Int, $first: Int) {{
  fleet(health: $health, nameContains: $name, order: $order, offset: $offset, first: $first) {{
    total offset healthCounts {{ health machines series }} machines {{ {MACHINE_FIELDS} }} }} }}"""
MACHINES = f"{{ machines {{ {MACHINE_FIELDS} }} }}"


async def _machine(
    resources: Resources,
    name: str,
    *,
    cv_rmse: float | None = None,
    alert: Severity | None = None,
    alert_type: AlertType = AlertType.DRIFT,
    readings: int = 0,
) -> uuid.UUID:
    """A machine whose BASELINE champion was evaluated with ``cv_rmse`` (none: never trained), with an
    unresolved ``alert_type`` alert of ``alert`` on its BASELINE, and ``readings`` hourly readings."""
    async with transaction(resources.sessions) as session:
        machine = Machine(name=name, created_at=START)
        session.add(machine)
        await session.flush()
        if cv_rmse is not None:
            champion = ModelVersion(
                machine_id=machine.id,
                model_type=ModelType.BASELINE,
                version=1,
                stage=VersionStage.CHAMPION,
                artifact=b"model",
                features=["outdoor_temp_c"],
                hyperparameters={},
                trained_from=START,
                trained_to=START,
                training_rows=24,
                reference_profile={},
            )
            session.add(champion)
            await session.flush()
            for hours, value in ((1, 0.01), (2, cv_rmse)):  # the newer window is the latest
                session.add(
                    PerformanceMetrics(
                        machine_id=machine.id,
                        model_type=ModelType.BASELINE,
                        model_version_id=champion.id,
                        source=MetricsSource.MONITORING,
                        window_end=START + timedelta(hours=hours),
                        sample_count=24,
                        cv_rmse=value,
                        nmbe=0.01,
                        r_squared=0.9,
                        extra={},
                        drift_detected=False,
                        drift_score=0.05,
                    )
                )
        if alert is not None:
            await alerts.raise_alert(
                session,
                machine_id=machine.id,
                model_type=ModelType.BASELINE,
                alert_type=alert_type,
                severity=alert,
                message="drift",
            )
        if readings:
            rows = [(START + timedelta(hours=hour), 10.0, None, 5.0, False) for hour in range(readings)]
            await ingest.upsert_readings(session, machine.id, rows)
    return machine.id


async def _evaluated(
    resources: Resources, name: str, *, cv_rmse: float | None, nmbe: float | None, r_squared: float | None
) -> uuid.UUID:
    """A machine whose BASELINE was evaluated once, without a version, with these metrics."""
    async with transaction(resources.sessions) as session:
        machine = Machine(name=name, created_at=START)
        session.add(machine)
        await session.flush()
        session.add(
            PerformanceMetrics(
                machine_id=machine.id,
                model_type=ModelType.BASELINE,
                source=MetricsSource.EXTERNAL,
                window_end=START,
                sample_count=24,
                cv_rmse=cv_rmse,
                nmbe=nmbe,
                r_squared=r_squared,
                extra={},
                drift_detected=False,
            )
        )
    return machine.id


async def _fleet(client: httpx.AsyncClient, **variables: Any) -> dict[str, Any]:
    return data_of(await graphql(client, FLEET, variables))["fleet"]


async def test_machines_are_judged_ordered_filtered_and_paged(client: httpx.AsyncClient, resources: Resources) -> None:
    await _machine(resources, "a-ok", cv_rmse=0.10, readings=5)
    await _machine(resources, "b-outside-policy", cv_rmse=0.45)
    await _machine(resources, "c-critical-alert", cv_rmse=0.10, alert=Severity.CRITICAL)
    await _machine(resources, "d-warning", cv_rmse=0.10, alert=Severity.WARNING)
    await _machine(resources, "e-info-only", cv_rmse=0.10, alert=Severity.INFO)
    await _machine(resources, "f-untrained")
    await _machine(
        resources, "h-silent-meter", cv_rmse=0.10, alert=Severity.CRITICAL, alert_type=AlertType.DATA_QUALITY
    )
    strict = await _machine(resources, "g-strict-policy", cv_rmse=0.10)
    async with transaction(resources.sessions) as session:
        await policies.update(session, strict, ModelType.BASELINE, {"max_cv_rmse": 0.05}, by="tests")

    everything = await _fleet(client)
    health = {machine["name"]: machine["health"] for machine in everything["machines"]}
    assert health == {
        "a-ok": "NO_DATA",  # its other three series were never evaluated: the worst counts
        "b-outside-policy": "CRITICAL",
        "c-critical-alert": "CRITICAL",
        "d-warning": "WARNING",
        "e-info-only": "NO_DATA",
        "f-untrained": "NO_DATA",
        "g-strict-policy": "CRITICAL",
        "h-silent-meter": "CRITICAL",  # an alert about its readings, not about a model
    }
    baseline = {
        machine["name"]: next(s for s in machine["models"] if s["modelType"] == "BASELINE")["health"]
        for machine in everything["machines"]
    }
    assert baseline["a-ok"] == "OK" and baseline["e-info-only"] == "OK" and baseline["f-untrained"] == "NO_DATA"
    assert baseline["h-silent-meter"] == "OK"
    assert [machine["name"] for machine in everything["machines"]] == [
        "b-outside-policy",
        "c-critical-alert",
        "g-strict-policy",
        "h-silent-meter",
        "d-warning",
        "a-ok",
        "e-info-only",
        "f-untrained",
    ]
    assert everything["total"] == 8
    assert everything["healthCounts"] == [
        {"health": "CRITICAL", "machines": 4, "series": 3},
        {"health": "WARNING", "machines": 1, "series": 1},
        {"health": "NO_DATA", "machines": 3, "series": 8 * 4 - 7},
        {"health": "OK", "machines": 0, "series": 3},
    ]

    by_name = await _fleet(client, order="NAME", offset=2, first=2)
    assert [machine["name"] for machine in by_name["machines"]] == ["c-critical-alert", "d-warning"]
    assert (by_name["total"], by_name["offset"]) == (8, 2)
    filtered = await _fleet(client, health=["WARNING", "CRITICAL"], name="-A")  # names with "-a" or "-A"
    assert [machine["name"] for machine in filtered["machines"]] == ["c-critical-alert"]
    assert filtered["total"] == 1 and filtered["healthCounts"] == everything["healthCounts"]
    past_the_end = await _fleet(client, offset=50)
    assert past_the_end["machines"] == [] and past_the_end["total"] == 8


async def test_a_page_shows_what_the_machines_list_shows(client: httpx.AsyncClient, resources: Resources) -> None:
    """Answered from data read beforehand (the page) or through the DataLoaders (the list): the same data."""
    await _machine(resources, "press", cv_rmse=0.45, alert=Severity.WARNING, readings=30)
    await _machine(resources, "oven", cv_rmse=0.12, readings=3)
    await _machine(resources, "pump", alert=Severity.WARNING, alert_type=AlertType.DATA_QUALITY)
    async with transaction(resources.sessions) as session:
        press = await session.scalar(sa.select(Machine.id).where(Machine.name == "press"))
        assert press is not None
        await policies.update(session, press, ModelType.ANOMALY, {"min_r_squared": 0.5}, by="tests")

    page = await _fleet(client, order="NAME")
    listed = data_of(await graphql(client, MACHINES))["machines"]

    assert page["machines"] == listed
    press_row = next(machine for machine in listed if machine["name"] == "press")
    assert press_row["readingsCount"] == 30 and press_row["health"] == "CRITICAL"
    assert (
        next(s for s in press_row["models"] if s["modelType"] == "BASELINE")["latestPerformance"]["modelVersion"] == 1
    )


async def test_the_database_judges_metrics_as_a_series_health_does(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    """The page's whole-fleet judgement runs in SQL (``health._FLEET_METRICS``), a machine's ``health`` field
    in Python (``health.outside_policy``): at and around every limit, with missing metrics and limits."""
    defaults = policies.DEFAULT_POLICY
    cases = {
        "cv-at-limit": ((defaults.max_cv_rmse, 0.0, 0.9), None, "OK"),
        "cv-above": ((defaults.max_cv_rmse + 1e-9, 0.0, 0.9), None, "CRITICAL"),
        "nmbe-at-negative-limit": ((0.1, -defaults.max_abs_nmbe, 0.9), None, "OK"),
        "nmbe-below-negative-limit": ((0.1, -defaults.max_abs_nmbe - 1e-9, 0.9), None, "CRITICAL"),
        "no-metrics": ((None, None, None), None, "OK"),
        "low-r2-no-limit": ((0.1, 0.0, -5.0), None, "OK"),
        "low-r2-stored-limit": ((0.1, 0.0, 0.49), {"min_r_squared": 0.5}, "CRITICAL"),
        "r2-at-stored-limit": ((0.1, 0.0, 0.5), {"min_r_squared": 0.5}, "OK"),
        "no-r2-stored-limit": ((0.1, 0.0, None), {"min_r_squared": 0.5}, "OK"),
        "cv-above-stored-limit": ((0.2, 0.0, 0.9), {"max_cv_rmse": 0.15}, "CRITICAL"),
        "cv-above-default-within-stored": ((0.4, 0.0, 0.9), {"max_cv_rmse": 0.5}, "OK"),
        "nmbe-within-stored-limit": ((0.1, 0.15, 0.9), {"max_abs_nmbe": 0.2}, "OK"),
    }
    for name, ((cv_rmse, nmbe, r_squared), stored, _) in cases.items():
        machine_id = await _evaluated(resources, name, cv_rmse=cv_rmse, nmbe=nmbe, r_squared=r_squared)
        if stored is not None:
            async with transaction(resources.sessions) as session:
                await policies.update(session, machine_id, ModelType.BASELINE, stored, by="tests")

    page = await _fleet(client, order="NAME", first=100)
    listed = data_of(await graphql(client, MACHINES))["machines"]

    assert page["machines"] == listed
    judged = {
        machine["name"]: next(s for s in machine["models"] if s["modelType"] == "BASELINE")["health"]
        for machine in page["machines"]
    }
    assert judged == {name: expected for name, (_, _, expected) in cases.items()}


async def test_bad_page_arguments_are_refused(client: httpx.AsyncClient) -> None:
    for variables, field in (
        ({"offset": -1}, "offset"),
        ({"first": 0}, "limit"),
        ({"name": "x" * 201}, "nameContains"),
    ):
        assert error_of(await graphql(client, FLEET, variables), "BAD_USER_INPUT")["extensions"]["field"] == field


@asynccontextmanager
async def every_statement(resources: Resources) -> AsyncIterator[list[str]]:
    """Every statement sent to the database: SQLAlchemy's, and the reads the database driver runs on its own
    (``app.db.driver_reads``), seen by asyncpg's query logger on each pooled connection (the pool is emptied
    first so that every connection is opened under the listener) or by SQLite's trace callback."""
    statements: list[str] = []
    engine = resources.engine.sync_engine
    postgres = engine.dialect.name == "postgresql"

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    def log_queries(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda query: statements.append(query.query))

    event.listen(engine, "before_cursor_execute", record)
    if postgres:
        await resources.engine.dispose()
        event.listen(engine, "connect", log_queries)
    else:
        reader = sqlite_reads.reader(resources.engine)
        assert reader is not None
        reader.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
        if postgres:
            event.remove(engine, "connect", log_queries)
            await resources.engine.dispose()
        else:
            reader.set_trace_callback(None)


@pytest.mark.parametrize("order", ["WORST_FIRST", "NAME"])
async def test_the_statements_of_a_page_do_not_grow_with_the_fleet(
    client: httpx.AsyncClient, resources: Resources, order: str
) -> None:
    for index in range(3):
        await _machine(resources, f"small-{index}", cv_rmse=0.4, alert=Severity.WARNING, readings=2)
    async with every_statement(resources) as small:
        small_page = await _fleet(client, order=order)
    for index in range(30):
        await _machine(resources, f"large-{index}", cv_rmse=0.1 + index / 100, alert=Severity.CRITICAL, readings=2)
    async with every_statement(resources) as large:
        large_page = await _fleet(client, order=order, first=33)

    assert len(small_page["machines"]) == 3 and len(large_page["machines"]) == 33
    small, large = _of_the_query(small), _of_the_query(large)
    # On PostgreSQL the database's snapshot (the judgement is kept while it is unchanged: each page here
    # follows writes); the whole fleet's machines judged on their latest metrics, and its alert severities;
    # then, for the page, reading statistics, alerts about readings, champions, latest metrics rows, model
    # alerts and policies.
    postgres = resources.engine.dialect.name == "postgresql"
    assert len(small) == len(large) == (9 if postgres else 8), large
    assert all(statement.lstrip().upper().startswith("SELECT") for statement in large)


async def test_a_kept_judgement_is_never_stale(client: httpx.AsyncClient, resources: Resources) -> None:
    """Every kind of write the fleet's judgement reads shows on the next page: a new evaluation, a policy, an
    alert raised and resolved, a machine added and deleted. Between writes, PostgreSQL's pages reuse it."""
    judged = await _machine(resources, "judged", cv_rmse=0.10)

    async def baseline() -> tuple[str, int]:
        page = await _fleet(client, order="NAME")
        machine = next(machine for machine in page["machines"] if machine["name"] == "judged")
        return next(s for s in machine["models"] if s["modelType"] == "BASELINE")["health"], page["total"]

    assert await baseline() == ("OK", 1)
    assert await baseline() == ("OK", 1)
    async with transaction(resources.sessions) as session:
        champion = await session.scalar(sa.select(ModelVersion.id).where(ModelVersion.machine_id == judged))
        await performance.record_external(
            session,
            machine_id=judged,
            model_type=ModelType.BASELINE,
            model_version_id=champion,
            window_start=None,
            window_end=START + timedelta(hours=3),
            sample_count=24,
            values={"cv_rmse": 0.45, "nmbe": 0.0, "r_squared": 0.9},
        )
    assert await baseline() == ("CRITICAL", 1)
    async with transaction(resources.sessions) as session:
        await policies.update(session, judged, ModelType.BASELINE, {"max_cv_rmse": 0.5}, by="tests")
    assert await baseline() == ("OK", 1)
    async with transaction(resources.sessions) as session:
        raised = await alerts.raise_alert(
            session,
            machine_id=judged,
            model_type=ModelType.BASELINE,
            alert_type=AlertType.DRIFT,
            severity=Severity.WARNING,
            message="drift",
        )
        assert raised is not None
    assert await baseline() == ("WARNING", 1)
    async with transaction(resources.sessions) as session:
        await alerts.resolve(session, raised.alert.id, "seen", by="tests")
    assert await baseline() == ("OK", 1)
    added = await _machine(resources, "added")
    assert await baseline() == ("OK", 2)
    async with transaction(resources.sessions) as session:
        await session.delete(await session.get(Machine, added))
    assert await baseline() == ("OK", 1)

    if resources.engine.dialect.name == "postgresql":
        await _a_page_between_writes_reuses_the_judgement(client, resources)


async def _a_page_between_writes_reuses_the_judgement(client: httpx.AsyncClient, resources: Resources) -> None:
    """A page preceded by another with no write anywhere in the cluster in between (its snapshot, read before
    and after both, unchanged) runs the snapshot's statement and the page's six only. Writes to other
    databases of the cluster change the snapshot too: the check waits for such a quiet moment."""

    async def snapshot() -> str:
        async with resources.engine.connect() as connection:
            return str(await connection.scalar(sa.text("SELECT pg_current_snapshot()::text")))

    for _ in range(50):
        before = await snapshot()
        await _fleet(client)
        async with every_statement(resources) as statements:
            await _fleet(client)
        if await snapshot() == before:
            assert len(_of_the_query(statements)) == 7, statements
            return
    pytest.skip("the cluster was written to throughout")


def _of_the_query(statements: list[str]) -> list[str]:
    """Without the bearer token's lookup and use, which authentication makes now and then (asyncpg logs its
    transaction's BEGIN and COMMIT)."""
    return [
        statement
        for statement in statements
        if "api_tokens" not in statement and not statement.upper().startswith(("BEGIN", "COMMIT"))
    ]
