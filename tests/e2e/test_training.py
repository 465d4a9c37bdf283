"""Training from the model page against the real server: retrain with a reason and watch the job reach
COMPLETED live (no reload, no Refresh), the new champion and its history, then promoting the other
version by hand."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import Server, screenshot_path
from tests.e2e.seed import SeededFleet

pytestmark = pytest.mark.e2e

JOB_TIMEOUT_MS = 120_000
#: Set on the page before a retrain; still there afterwards only if the page never reloaded.
NOT_RELOADED = "window.__kilowatchNotReloaded"


class JobFrames:
    """Every training-job snapshot the page received over its websocket, per job, in arrival order."""

    def __init__(self, page: Page) -> None:
        self.statuses: dict[str, list[tuple[str, float]]] = defaultdict(list)
        page.on("websocket", lambda socket: socket.on("framereceived", self._receive))

    def _receive(self, payload: str | bytes) -> None:
        message = json.loads(payload)
        job = ((message.get("payload") or {}).get("data") or {}).get("trainingJobUpdates")
        if message.get("type") == "next" and job:
            self.statuses[job["id"]].append((job["status"], job["progress"]))


async def retrain(page: Page, frames: JobFrames, reason: str) -> str:
    """Retrain from the page and follow the job to COMPLETED through the live subscription alone."""
    training = page.locator("[data-section='training']")
    await expect(training.locator(".live-status")).to_have_text("Live")
    await page.evaluate(f"{NOT_RELOADED} = true")
    await training.get_by_label("Reason (optional)").fill(reason)
    await training.get_by_role("button", name="Retrain").click()
    await expect(training.locator(".feedback")).to_have_text("Retraining queued.")
    row = training.locator("tbody tr").filter(has_text=reason)
    job_id = await row.get_attribute("data-job-id")
    assert job_id is not None
    await expect(row).to_have_attribute("data-status", "COMPLETED", timeout=JOB_TIMEOUT_MS)
    assert await page.evaluate(NOT_RELOADED) is True

    received = frames.statuses[job_id]
    statuses = [status for status, _ in received]
    assert statuses[-1] == "COMPLETED" and statuses.count("COMPLETED") == 1
    assert "RUNNING" in statuses and statuses.index("RUNNING") < statuses.index("COMPLETED")
    progress = [value for status, value in received if status == "RUNNING"]
    assert progress == sorted(progress), "progress went backwards"
    return job_id


async def test_retrain_crowns_a_champion_and_another_version_can_be_promoted(
    page: Page, server: Server, fleet: SeededFleet
) -> None:
    frames = JobFrames(page)
    await page.goto(f"{server.base_url}/#/model/{fleet.training_machine_id}/BASELINE")
    versions = page.locator("[data-section='versions'] tbody tr")
    history = page.locator("[data-section='champion-history'] tbody tr")

    first_job = await retrain(page, frames, "first baseline after commissioning")
    await expect(page.locator(f"tr[data-job-id='{first_job}']")).to_contain_text("v1")
    await expect(versions).to_have_count(1)
    await expect(versions.first).to_have_attribute("data-stage", "CHAMPION")
    await expect(versions.first.locator(".level[data-level='ok']")).not_to_have_count(0)  # validation within policy
    await expect(history).to_have_count(1)
    await expect(history.first).to_contain_text("first version of the series")
    await expect(page.locator("figure.chart").first).to_be_visible()  # the validation metrics start the trend
    await page.screenshot(path=screenshot_path("model-trained"), full_page=True)

    await retrain(page, frames, "second opinion")
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
