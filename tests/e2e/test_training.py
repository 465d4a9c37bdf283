"""Training from the model page against the real server: retrain with a reason, the job's outcome,
the new champion and its history, then promoting the other version by hand."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import Server, screenshot_path
from tests.e2e.seed import SeededFleet, graphql_data

pytestmark = pytest.mark.e2e

JOB_TIMEOUT_S = 120.0
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
JOB = "query($id: UUID!) { trainingJob(id: $id) { status errorMessage } }"


async def finished_job(server: Server, job_id: str) -> dict[str, str | None]:
    """Wait on the API for the job to end; the page is refreshed afterwards (or has updated itself live)."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        while time.monotonic() < deadline:
            job = (await graphql_data(client, JOB, {"id": job_id}))["trainingJob"]
            if job["status"] in TERMINAL:
                return job
            await asyncio.sleep(0.2)
    raise AssertionError(f"training job {job_id} did not finish within {JOB_TIMEOUT_S:.0f} s")


async def retrain(page: Page, server: Server, reason: str) -> str:
    training = page.locator("[data-section='training']")
    await training.get_by_label("Reason (optional)").fill(reason)
    await training.get_by_role("button", name="Retrain").click()
    await expect(training.locator(".feedback")).to_have_text("Retraining queued.")
    row = training.locator("tbody tr").filter(has_text=reason)
    job_id = await row.get_attribute("data-job-id")
    assert job_id is not None
    assert await finished_job(server, job_id) == {"status": "COMPLETED", "errorMessage": None}
    await page.get_by_role("button", name="Refresh").click()
    await expect(row).to_have_attribute("data-status", "COMPLETED")
    return job_id


async def test_retrain_crowns_a_champion_and_another_version_can_be_promoted(
    page: Page, server: Server, fleet: SeededFleet
) -> None:
    await page.goto(f"{server.base_url}/#/model/{fleet.training_machine_id}/BASELINE")
    versions = page.locator("[data-section='versions'] tbody tr")
    history = page.locator("[data-section='champion-history'] tbody tr")

    first_job = await retrain(page, server, "first baseline after commissioning")
    await expect(page.locator(f"tr[data-job-id='{first_job}']")).to_contain_text("v1")
    await expect(versions).to_have_count(1)
    await expect(versions.first).to_have_attribute("data-stage", "CHAMPION")
    await expect(versions.first.locator(".level[data-level='ok']")).not_to_have_count(0)  # validation within policy
    await expect(history).to_have_count(1)
    await expect(history.first).to_contain_text("first version of the series")
    await expect(page.locator("figure.chart").first).to_be_visible()  # the validation metrics start the trend
    await page.screenshot(path=screenshot_path("model-trained"), full_page=True)

    await retrain(page, server, "second opinion")
    await expect(versions).to_have_count(2)
    challenger = versions.filter(has_not=page.locator("text=Serving"))
    action = challenger.get_by_role("button")
    label = await action.text_content() or ""
    await action.click()
    await expect(page.locator("[data-section='versions'] .feedback")).to_contain_text("is now the champion")
    await expect(history).to_have_count(2)
    await expect(history.first).to_contain_text(
        "manual rollback" if label.startswith("Roll back") else "manual promotion"
    )
    await expect(versions.filter(has_text="Serving")).to_have_count(1)
    await page.screenshot(path=screenshot_path("model-promoted"), full_page=True)
