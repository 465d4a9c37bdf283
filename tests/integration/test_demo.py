"""The demo fleet, built in embedded mode and read back through the API as the dashboard reads it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pandas as pd
import pytest
from rich.progress import Progress

from app.cli import demo
from app.cli.commands import main
from app.cli.demo import DemoOptions, DemoSummary
from app.config import Settings
from app.db.migrate import upgrade_to_head
from app.enums import ModelType, Role
from app.errors import Conflict, InvalidInput
from app.runtime.resources import open_resources
from app.services.models.runner import inline_runner
from tests.integration.apps import client_as, running
from tests.support import data_of, graphql, scratch_postgres_database

#: A fixed end keeps weather, weekdays and holidays of the fleet the same on every day the test runs.
END = pd.Timestamp("2026-03-02T00:00Z")
OPTIONS = DemoOptions(machines=2, days=60)
CHANGED, UNCHANGED = "press-line-1", "injection-molding-2"
FLEET = """{ machines { id name readingsCount lastReadingAt
  models { modelType champion { version } performanceTrend(days: 3650) { source } } } }"""
DRIFT = """query($m: UUID!, $t: ModelType!) { driftReports(machineId: $m, modelType: $t, limit: 100) {
  windowEnd sampleCount concept { detected } } }"""
ALERTS = "{ activeAlerts { machineId modelType alertType } }"
SAVINGS = """query($m: UUID!) { savings(machineId: $m) { savingsFraction savingsKwh uncertaintyKwh significant
  intervention { kind at } baselineVersion { version } } }"""
VERSIONS = """query($m: UUID!, $t: ModelType!) { modelSeries(machineId: $m, modelType: $t) {
  versions { version trainedFrom } } }"""
AB_TESTS = """{ abTests(status: [RUNNING]) { machineId modelType modelA { version } modelB { version }
  results { samplesA samplesB decided } } }"""


@asynccontextmanager
async def database(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A database of the demo's own: the shared test database is emptied after other modules' tests."""
    if dialect == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('demo') / 'kilowatch.db'}"
    else:
        async with scratch_postgres_database() as url:
            yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Settings, DemoSummary]]:
    async with database(request.param, tmp_path_factory) as url:
        await upgrade_to_head(url)
        settings = Settings(database_url=url, redis_url=None)
        async with open_resources(settings, inline_runner) as resources:
            summary = await demo.build(resources, OPTIONS, Progress(disable=True), end=END)
        yield settings, summary


@pytest.fixture
async def viewer(built: tuple[Settings, DemoSummary]) -> AsyncIterator[httpx.AsyncClient]:
    async with running(built[0]) as app, client_as(app, Role.VIEWER) as client:
        yield client


async def query(client: httpx.AsyncClient, text: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return data_of(await graphql(client, text, variables))


async def test_every_machine_has_its_readings_and_a_monitored_champion_of_every_type(
    built: tuple[Settings, DemoSummary], viewer: httpx.AsyncClient
) -> None:
    machines = {machine["name"]: machine for machine in (await query(viewer, FLEET))["machines"]}

    assert set(machines) == {CHANGED, UNCHANGED}
    for machine in machines.values():
        assert machine["readingsCount"] == OPTIONS.days * 24
        assert datetime.fromisoformat(machine["lastReadingAt"]) == END
        assert {series["modelType"] for series in machine["models"]} == {model_type.name for model_type in ModelType}
        for series in machine["models"]:
            sources = [point["source"] for point in series["performanceTrend"]]
            assert series["champion"] is not None, series
            assert sources.count("MONITORING") == demo.REPLAY_DAYS, series["modelType"]
            assert "TRAINING_VALIDATION" in sources
            reports = (await query(viewer, DRIFT, {"m": machine["id"], "t": series["modelType"]}))["driftReports"]
            assert len(reports) == demo.REPLAY_DAYS and all(report["sampleCount"] > 0 for report in reports)
    summary = built[1]
    assert summary.evaluations == demo.REPLAY_DAYS * len(machines) * len(ModelType)
    assert summary.models_trained == len(machines) * len(ModelType) + 1 + len(demo.RELEARNED_TYPES)


async def test_monitoring_finds_the_equipment_change_where_it_happened(viewer: httpx.AsyncClient) -> None:
    machines = {machine["name"]: machine["id"] for machine in (await query(viewer, FLEET))["machines"]}
    alerts = (await query(viewer, ALERTS))["activeAlerts"]
    reports = (await query(viewer, DRIFT, {"m": machines[CHANGED], "t": "BASELINE"}))["driftReports"]
    change = END - pd.Timedelta(days=demo.CHANGE_DAYS_BEFORE_END)
    before = [report for report in reports if datetime.fromisoformat(report["windowEnd"]) <= change]
    after = [
        report for report in reports if datetime.fromisoformat(report["windowEnd"]) >= change + pd.Timedelta(days=2)
    ]

    degraded = {(alert["machineId"], alert["modelType"]) for alert in alerts if alert["alertType"] == "DEGRADATION"}
    assert (machines[CHANGED], "BASELINE") in degraded
    assert before and not any(report["concept"]["detected"] for report in before)
    assert after and all(report["concept"]["detected"] for report in after)
    assert (machines[UNCHANGED], "BASELINE") not in degraded


async def test_the_equipment_change_is_an_intervention_with_its_saving_and_relearned_forecasts(
    viewer: httpx.AsyncClient,
) -> None:
    machines = {machine["name"]: machine["id"] for machine in (await query(viewer, FLEET))["machines"]}
    change = END - pd.Timedelta(days=demo.CHANGE_DAYS_BEFORE_END)

    savings = (await query(viewer, SAVINGS, {"m": machines[CHANGED]}))["savings"]
    versions = {
        model_type.name: (await query(viewer, VERSIONS, {"m": machines[CHANGED], "t": model_type.name}))["modelSeries"][
            "versions"
        ]
        for model_type in demo.RELEARNED_TYPES
    }

    assert savings["intervention"]["kind"] == "EQUIPMENT_CHANGE"
    assert datetime.fromisoformat(savings["intervention"]["at"]) == change
    assert savings["baselineVersion"]["version"] == 1  # the champion trained before the change, frozen
    assert abs(savings["savingsFraction"] - -demo.CHANGE_FRACTION) <= 0.02
    assert savings["significant"] and abs(savings["savingsKwh"]) > savings["uncertaintyKwh"]
    for found in versions.values():
        assert datetime.fromisoformat(found[0]["trainedFrom"]) == change, found


async def test_an_ab_test_of_two_versions_is_running_with_scored_predictions(viewer: httpx.AsyncClient) -> None:
    machines = {machine["name"]: machine["id"] for machine in (await query(viewer, FLEET))["machines"]}

    (test,) = (await query(viewer, AB_TESTS))["abTests"]

    assert (test["machineId"], test["modelType"]) == (machines[UNCHANGED], demo.AB_MODEL_TYPE.name)
    assert (test["modelA"]["version"], test["modelB"]["version"]) == (1, 2)
    assert test["results"]["samplesA"] + test["results"]["samplesB"] == demo.LIVE_DAYS * 24
    assert test["results"]["samplesA"] > 0 and test["results"]["samplesB"] > 0
    assert not test["results"]["decided"]  # a week of hourly predictions is below minSamples per arm: still running


async def test_a_second_run_refuses_and_serve_demo_skips_a_filled_database(
    built: tuple[Settings, DemoSummary], viewer: httpx.AsyncClient
) -> None:
    settings = built[0]
    async with open_resources(settings, inline_runner) as resources:
        with pytest.raises(Conflict, match=f"demo machine\\(s\\) {UNCHANGED}, {CHANGED};"):
            await demo.build(resources, OPTIONS, Progress(disable=True), end=END)

    assert len((await query(viewer, FLEET))["machines"]) == 2
    assert "already has machines" in (await demo.skip_reason(settings) or "")
    assert "embedded mode only" in (
        await demo.skip_reason(settings.model_copy(update={"redis_url": "redis://x"})) or ""
    )


async def test_serve_demo_would_fill_an_empty_embedded_database(tmp_path_factory: pytest.TempPathFactory) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('empty') / 'kilowatch.db'}"
    await upgrade_to_head(url)

    assert await demo.skip_reason(Settings(database_url=url, redis_url=None)) is None


@pytest.mark.parametrize(("machines", "days"), [(0, 60), (7, 60), (2, demo.MIN_DAYS - 1), (2, demo.MAX_DAYS + 1)])
def test_sizes_outside_what_the_timeline_needs_are_refused(machines: int, days: int) -> None:
    with pytest.raises(InvalidInput):
        DemoOptions(machines=machines, days=days).check()


def test_the_command_refuses_bad_sizes_and_a_filled_database_with_a_clear_message(
    built: tuple[Settings, DemoSummary], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KILOWATCH_DATABASE_URL", built[0].database_url)
    monkeypatch.delenv("KILOWATCH_REDIS_URL", raising=False)

    assert main(["demo", "--machines", "9"]) == 2
    assert "--machines must be between 1 and 6, got 9" in " ".join(capsys.readouterr().err.split())
    assert main(["demo", "--machines", "2", "--days", "60"]) == 2
    assert f"already has the demo machine(s) {UNCHANGED}, {CHANGED}" in " ".join(capsys.readouterr().err.split())
