"""Data time and the champion's numbers in a real browser.

- A trend chart places each point at the end of the data window it describes, whatever order the
  evaluations were recorded in, and its markers say where each number comes from.
- The fleet row shows the champion's numbers, not those of a newer candidate that was not promoted.
- The fleet row's and the model page's data-drift cell show the verdict the alert logic used
  (severity, method, meaning), with the raw PSI secondary: a change of the target far past the PSI
  critical line is information, not a red cell.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from playwright.async_api import Page, expect

from app.db.engine import create_engine, create_session_factory, transaction
from app.db.tables import ModelVersion, PerformanceMetrics
from app.enums import MetricsSource, VersionStage
from app.ml.synthetic import DEMO_FLEET, generate_readings
from tests.e2e.conftest import Server
from tests.e2e.seed import INGEST, RECORD, REGISTER, graphql_data, machine_with_readings, reading_inputs

pytestmark = pytest.mark.e2e

TRIGGER = """mutation($m: UUID!) { triggerRetrain(machineId: $m, modelType: BASELINE, reason: "first") {
  job { id } } }"""
JOB = "query($id: UUID!) { trainingJob(id: $id) { status errorMessage } }"
LATEST = """query($m: UUID!) { modelSeries(machineId: $m, modelType: BASELINE) {
  latestPerformance { source modelVersion cvRmse } } }"""
CHECK = """mutation($m: UUID!) { checkDrift(machineId: $m, modelType: BASELINE) { id driftScore
  verdict { severity method meaning raisesAlert } } }"""
VERDICT = """query($m: UUID!) { modelSeries(machineId: $m, modelType: BASELINE) {
  policy { psiCritical } latestPerformance { source driftScore driftVerdict { severity method meaning } } } }"""


async def test_trend_points_sit_at_the_end_of_their_data_windows(page: Page, server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        machine_id = await machine_with_readings(client, DEMO_FLEET[1], days=2, seed=9, name="timeline-press")
        today = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        ends = [today - timedelta(days=days) for days in (2, 12, 7)]  # recorded out of data order
        for end, cv in zip(ends, (0.12, 0.10, 0.11), strict=True):
            metrics = {
                "machineId": machine_id,
                "modelType": "BASELINE",
                "windowStart": (end - timedelta(days=1)).isoformat(),
                "windowEnd": end.isoformat(),
                "sampleCount": 24,
                "cvRmse": cv,
            }
            await graphql_data(client, RECORD, {"input": metrics})

    await page.goto(f"{server.base_url}/#/model/{machine_id}/BASELINE")
    chart = page.locator("figure.chart").filter(has_text="CV(RMSE)")
    points = chart.locator("svg.trend-chart .point")
    await expect(points).to_have_count(3)

    placed = [await points.nth(index).get_attribute("data-at") for index in range(3)]
    assert [pd.Timestamp(at) for at in placed] == [pd.Timestamp(end) for end in sorted(ends)]
    boxes = [await points.nth(index).bounding_box() for index in range(3)]
    xs = [box["x"] + box["width"] / 2 for box in boxes if box is not None]
    # Spacing follows data time: 5 days between the first two windows, 5 between the last two.
    assert xs[0] < xs[1] < xs[2] and abs((xs[1] - xs[0]) - (xs[2] - xs[1])) < 1.0
    await expect(chart.locator(".chart-legend")).to_contain_text("external")
    await expect(chart.locator("svg.trend-chart polygon.point")).to_have_count(3)  # external: diamonds


async def test_the_fleet_row_shows_the_champions_numbers_not_a_candidates(page: Page, server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        machine_id = await machine_with_readings(client, DEMO_FLEET[2], days=21, seed=10, name="champion-compressor")
        await _train(client, machine_id)
        champion = (await graphql_data(client, LATEST, {"m": machine_id}))["modelSeries"]["latestPerformance"]
        await _add_unpromoted_candidate(server.database_url, machine_id, cv_rmse=0.0123)
        after = (await graphql_data(client, LATEST, {"m": machine_id}))["modelSeries"]["latestPerformance"]

    assert (champion["source"], champion["modelVersion"]) == ("TRAINING_VALIDATION", 1)
    assert after == champion
    await page.goto(f"{server.base_url}/#/fleet")
    row = page.locator("tbody[data-machine='champion-compressor'] tr[data-model-type='BASELINE']")
    await expect(row.locator("[data-metric='cvRmse']")).to_contain_text(f"{champion['cvRmse'] * 100:.1f} %")
    await expect(row.locator("[data-metric='cvRmse']")).not_to_contain_text("1.2 %")
    await expect(row).to_contain_text("validation v1")


async def test_the_drift_cell_shows_the_verdict_the_alerts_use_not_the_raw_score(page: Page, server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        machine_id = (await graphql_data(client, REGISTER, {"name": "verdict-compressor"}))["registerMachine"]["id"]
        start = pd.Timestamp(datetime.now(UTC) - timedelta(days=24)).floor("h").tz_localize(None)
        frame = generate_readings(DEMO_FLEET[2], start, days=24, seed=11)
        training, monitored = frame.iloc[: 21 * 24], frame.iloc[21 * 24 :].copy()
        await graphql_data(client, INGEST, {"machineId": machine_id, "readings": reading_inputs(training)})
        await _train(client, machine_id)
        monitored["energy_kwh"] *= 1.3  # the load changes: energy is the target, judged by the accuracy checks
        await graphql_data(client, INGEST, {"machineId": machine_id, "readings": reading_inputs(monitored)})
        report = (await graphql_data(client, CHECK, {"m": machine_id}))["checkDrift"]
        series = (await graphql_data(client, VERDICT, {"m": machine_id}))["modelSeries"]

    latest = series["latestPerformance"]
    verdict = latest["driftVerdict"]
    assert latest["source"] == "MONITORING" and verdict == {k: report["verdict"][k] for k in verdict}
    assert latest["driftScore"] >= series["policy"]["psiCritical"]  # coloured by PSI, this cell was red
    assert (verdict["severity"], report["verdict"]["raisesAlert"]) == ("info", False)

    await page.goto(f"{server.base_url}/#/fleet")
    cell = page.locator(
        "tbody[data-machine='verdict-compressor'] tr[data-model-type='BASELINE'] [data-metric='driftScore']"
    )
    await expect(cell.locator("[data-verdict]")).to_have_attribute("data-verdict", "info")
    await expect(cell.locator(".level")).to_have_attribute("data-level", "info")
    await expect(cell).to_contain_text("info, no alert")
    await expect(cell).to_contain_text(verdict["meaning"])
    await expect(cell.locator(".drift-raw")).to_have_text(f"PSI {latest['driftScore']:.2f}")

    await page.goto(f"{server.base_url}/#/model/{machine_id}/BASELINE")
    summary = page.locator(".summary")
    await expect(summary.locator("[data-verdict]")).to_have_attribute("data-verdict", "info")
    report_summary = page.locator(f"details.drift-report[data-report-id='{report['id']}'] summary")
    await expect(report_summary.locator(".level")).to_have_attribute("data-level", "info")
    await expect(report_summary).to_contain_text(verdict["meaning"])


async def _train(client: httpx.AsyncClient, machine_id: str) -> None:
    job_id = (await graphql_data(client, TRIGGER, {"m": machine_id}))["triggerRetrain"]["job"]["id"]
    for _ in range(600):
        job = (await graphql_data(client, JOB, {"id": job_id}))["trainingJob"]
        if job["status"] in {"COMPLETED", "FAILED", "CANCELLED"}:
            break
        await asyncio.sleep(0.2)
    assert job["status"] == "COMPLETED", job["errorMessage"]


async def _add_unpromoted_candidate(database_url: str, machine_id: str, cv_rmse: float) -> None:
    """A second version that lost against the champion: stored with newer validation metrics, not promoted."""
    engine = create_engine(database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            champion = await session.scalar(
                sa.select(ModelVersion).where(
                    ModelVersion.machine_id == uuid.UUID(machine_id), ModelVersion.version == 1
                )
            )
            assert champion is not None and champion.stage is VersionStage.CHAMPION
            candidate = ModelVersion(
                machine_id=champion.machine_id,
                model_type=champion.model_type,
                version=2,
                stage=VersionStage.CANDIDATE,
                artifact=champion.artifact,
                features=champion.features,
                hyperparameters=champion.hyperparameters,
                trained_from=champion.trained_from,
                trained_to=champion.trained_to,
                training_rows=champion.training_rows,
                reference_profile=champion.reference_profile,
            )
            session.add(candidate)
            await session.flush()
            session.add(
                PerformanceMetrics(
                    machine_id=champion.machine_id,
                    model_type=champion.model_type,
                    model_version_id=candidate.id,
                    source=MetricsSource.TRAINING_VALIDATION,
                    evaluated_at=datetime.now(UTC),
                    window_start=champion.trained_to - timedelta(days=3),
                    window_end=champion.trained_to,
                    sample_count=72,
                    cv_rmse=cv_rmse,
                    extra={},
                    drift_detected=False,
                )
            )
    finally:
        await engine.dispose()
