"""Live views over `graphql-transport-ws`: alerts arriving, reconnecting without gaps or duplicates,
and training progress — checked against a protocol stand-in until the server streams these itself."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import Server, screenshot_path
from tests.e2e.fake_subscriptions import FakeSubscriptionServer
from tests.e2e.seed import SeededFleet

pytestmark = pytest.mark.e2e


def live_alert(machine_id: str, message: str, created_at: datetime) -> dict[str, Any]:
    instant = created_at.isoformat()
    return {
        "id": str(uuid.uuid4()),
        "machineId": machine_id,
        "modelType": "BASELINE",
        "alertType": "DRIFT",
        "severity": "CRITICAL",
        "status": "OPEN",
        "message": message,
        "createdAt": instant,
        "lastSeenAt": instant,
        "occurrences": 1,
        "acknowledgedAt": None,
        "acknowledgedBy": None,
        "resolvedAt": None,
        "resolvedBy": None,
        "resolutionNote": None,
        "autoAction": None,
        "trainingJobId": None,
    }


def job_snapshot(job_id: str, status: str, progress: float, **changes: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "triggerType": "MANUAL",
        "reason": "new compressor",
        "status": status,
        "progress": progress,
        "progressStep": None,
        "createdAt": datetime.now(UTC).isoformat(),
        "startedAt": None,
        "finishedAt": None,
        "durationSeconds": None,
        "errorMessage": None,
        "improvement": None,
        "requestedBy": None,
        "modelVersion": None,
        **changes,
    }


async def test_alerts_arrive_live_and_resubscribe_from_the_newest_seen_after_a_drop(
    page: Page, server: Server, fleet: SeededFleet
) -> None:
    subscriptions = FakeSubscriptionServer()
    await subscriptions.install(page)
    await page.goto(f"{server.base_url}/?token=live-token#/alerts")

    first = await subscriptions.subscription()
    assert subscriptions.of_type("connection_init")[0]["payload"] == {"Authorization": "Bearer live-token"}
    assert "alertRaised" in first["payload"]["query"]
    await expect(page.locator(".live-status")).to_have_text("Live")
    await expect(page.locator("li.alert-card").first).to_be_visible()  # the stored list has loaded

    earlier = live_alert(fleet.healthy_machine_id, "Drift on production units", datetime.now(UTC))
    subscriptions.send_next(first, {"alertRaised": earlier})
    await expect(page.locator(f"li[data-alert-id='{earlier['id']}']")).to_contain_text("Drift on production units")

    await subscriptions.drop_connection()
    again = await subscriptions.subscription(2)
    assert len(subscriptions.connections) == 2
    assert again["payload"]["variables"] == {"since": earlier["createdAt"]}

    later = live_alert(
        fleet.healthy_machine_id, "Drift on outdoor temperature", datetime.now(UTC) + timedelta(seconds=1)
    )
    subscriptions.send_next(again, {"alertRaised": earlier})  # replayed: the client must not show it twice
    subscriptions.send_next(again, {"alertRaised": later})
    await expect(page.locator(f"li[data-alert-id='{later['id']}']")).to_be_visible()
    await expect(page.locator(f"li[data-alert-id='{earlier['id']}']")).to_have_count(1)
    await page.screenshot(path=screenshot_path("alerts-live"), full_page=True)


async def test_training_progress_is_followed_live_until_completion(
    page: Page, server: Server, fleet: SeededFleet
) -> None:
    subscriptions = FakeSubscriptionServer()
    await subscriptions.install(page)
    await page.goto(f"{server.base_url}/#/model/{fleet.healthy_machine_id}/BASELINE")

    subscribe = await subscriptions.subscription()
    assert "trainingJobUpdates" in subscribe["payload"]["query"]
    assert subscribe["payload"]["variables"] == {"machineId": fleet.healthy_machine_id, "modelType": "BASELINE"}
    job_id = str(uuid.uuid4())
    row = page.locator(f"tr[data-job-id='{job_id}']")

    subscriptions.send_next(subscribe, {"trainingJobUpdates": job_snapshot(job_id, "RUNNING", 0.4, progressStep="fit")})
    await expect(row).to_have_attribute("data-status", "RUNNING")
    await expect(row.locator(".progress-text")).to_have_text("40 % · fit")
    await expect(row.get_by_role("button", name="Cancel")).to_be_visible()
    await page.screenshot(path=screenshot_path("training-running"), full_page=True)

    finished = job_snapshot(
        job_id, "COMPLETED", 1.0, durationSeconds=12.5, modelVersion={"id": str(uuid.uuid4()), "version": 1}
    )
    async with page.expect_request(lambda request: "ModelPage" in (request.post_data or "")):
        subscriptions.send_next(subscribe, {"trainingJobUpdates": finished})  # completion refreshes the page data
    await expect(row).to_have_attribute("data-status", "COMPLETED")
    await expect(row).to_contain_text("v1")
    await expect(row.get_by_role("button", name="Cancel")).to_have_count(0)
