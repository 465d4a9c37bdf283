"""The savings panel in a real browser: record an efficiency measure on a machine whose baseline was
trained before it, then read the saving with its interval, the frozen version, the cumulative band
and the intervention marked on the trend chart."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest
from playwright.async_api import Page, expect

from app.ml.synthetic import DEMO_FLEET, LevelShift, generate_readings
from tests.e2e.conftest import Server, screenshot_path
from tests.e2e.seed import INGEST, REGISTER, graphql_data

pytestmark = pytest.mark.e2e

BASELINE_DAYS, REPORTING_DAYS = 21, 7
TRAIN = "mutation($m: UUID!) { triggerRetrain(machineId: $m, modelType: BASELINE) { job { id } } }"
JOB = "query($id: UUID!) { trainingJob(id: $id) { status errorMessage } }"


async def ingest(client: httpx.AsyncClient, machine_id: str, frame: pd.DataFrame) -> None:
    readings = [
        {
            "timestamp": timestamp.isoformat(),
            "energyKwh": float(row.energy_kwh),
            "productionUnits": float(row.production_units),
            "outdoorTempC": None if math.isnan(row.outdoor_temp_c) else float(row.outdoor_temp_c),
        }
        for timestamp, row in frame.iterrows()
    ]
    await graphql_data(client, INGEST, {"machineId": machine_id, "readings": readings})


async def machine_with_a_baseline_before(server: Server, at: pd.Timestamp, start: pd.Timestamp) -> str:
    """A press line whose BASELINE champion is trained on the weeks before ``at``; 12 % less from ``at`` on."""
    frame = generate_readings(
        DEMO_FLEET[0], start, BASELINE_DAYS + REPORTING_DAYS, seed=41, level_shift=LevelShift(at, -0.12)
    )
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        machine_id = (await graphql_data(client, REGISTER, {"name": "savings-press"}))["registerMachine"]["id"]
        await ingest(client, machine_id, frame.loc[frame.index < at])
        job_id = (await graphql_data(client, TRAIN, {"m": machine_id}))["triggerRetrain"]["job"]["id"]
        for _ in range(600):
            job = (await graphql_data(client, JOB, {"id": job_id}))["trainingJob"]
            if job["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
                break
            await asyncio.sleep(0.2)
        assert job["status"] == "COMPLETED", job
        await ingest(client, machine_id, frame.loc[frame.index >= at])
    return machine_id


async def test_recording_an_efficiency_measure_shows_its_saving_with_uncertainty(page: Page, server: Server) -> None:
    start = pd.Timestamp(datetime.now(UTC) - timedelta(days=BASELINE_DAYS + REPORTING_DAYS)).floor("h")
    at = start + pd.Timedelta(days=BASELINE_DAYS)
    machine_id = await machine_with_a_baseline_before(server, at, start)
    await page.goto(f"{server.base_url}/#/model/{machine_id}/BASELINE")

    panel = page.locator("[data-section='savings']")
    await expect(panel).to_contain_text("No interventions recorded")
    await panel.get_by_label("At (UTC)").fill(at.strftime("%Y-%m-%dT%H:%M"))
    await panel.get_by_label("Kind").select_option("EFFICIENCY_MEASURE")
    await panel.get_by_label("Description").fill("Servo presses replace the hydraulic ones")
    await panel.get_by_role("button", name="Record intervention").click()

    await expect(panel.locator(".feedback")).to_contain_text("baseline champion is frozen")
    totals = panel.locator("[data-savings='totals']")
    await expect(totals).to_contain_text("Saved")
    await expect(totals).to_contain_text("±")
    await expect(totals).to_contain_text("at 90 % confidence")
    await expect(totals.locator(".level")).to_have_attribute("data-level", "ok")
    await expect(panel.locator("[data-baseline-version]")).to_have_text("v1")
    await expect(panel.locator("figure.chart polygon.band")).to_have_count(1)
    await expect(panel.locator("table[data-list='interventions'] tbody tr")).to_have_count(1)
    await expect(panel.locator("table[data-list='interventions']")).to_contain_text("Efficiency measure")
    trend = page.locator("[data-section='performance-trend'] figure.chart").filter(has_text="CV(RMSE)")
    await expect(trend.locator("g.marker")).to_have_count(1)

    await panel.get_by_label("Confidence").select_option("0.95")
    await expect(totals).to_contain_text("at 95 % confidence")
    await page.screenshot(path=screenshot_path("savings"), full_page=True)
