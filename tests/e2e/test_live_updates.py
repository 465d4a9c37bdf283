"""Live alerts from the real server over `graphql-transport-ws`: arriving without reload, and after a
dropped connection, the alerts raised while the page was away replayed once, then live ones again."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import Server, screenshot_path
from tests.e2e.live_proxy import LiveConnectionProxy
from tests.e2e.seed import REGISTER, graphql_data

pytestmark = pytest.mark.e2e

ALERT_TIMEOUT_S = 60.0
TRIGGER = """
  mutation($machineId: UUID!, $modelType: ModelType!) {
    triggerRetrain(machineId: $machineId, modelType: $modelType, reason: "no data yet") { triggered }
  }"""
ALERTS = "query($machineId: UUID) { alerts(machineId: $machineId) { id modelType alertType createdAt } }"


async def failed_training_alert(client: httpx.AsyncClient, machine_id: str, model_type: str) -> dict[str, Any]:
    """Retrain a series that has no readings: the server's job fails and raises a TRAINING_FAILED alert,
    published live like any alert the service raises."""
    assert (await graphql_data(client, TRIGGER, {"machineId": machine_id, "modelType": model_type}))["triggerRetrain"][
        "triggered"
    ]
    deadline = time.monotonic() + ALERT_TIMEOUT_S
    while time.monotonic() < deadline:
        for alert in (await graphql_data(client, ALERTS, {"machineId": machine_id}))["alerts"]:
            if alert["modelType"] == model_type:
                assert alert["alertType"] == "TRAINING_FAILED"
                return alert
        await asyncio.sleep(0.1)
    raise AssertionError(f"no alert for the failed {model_type} training within {ALERT_TIMEOUT_S:.0f} s")


async def test_alerts_arrive_live_and_missed_ones_are_replayed_once_after_a_drop(page: Page, server: Server) -> None:
    name = f"Spare air compressor {uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        machine_id = (await graphql_data(client, REGISTER, {"name": name}))["registerMachine"]["id"]
    proxy = LiveConnectionProxy()
    await proxy.install(page)
    await page.goto(f"{server.base_url}/?token=live-token#/alerts")
    live = page.locator(".live-status")

    first = await proxy.subscription()
    assert proxy.of_type("connection_init")[0]["payload"] == {"Authorization": "Bearer live-token"}
    assert "alertRaised" in first["payload"]["query"]
    await expect(live).to_have_text("Live")
    await expect(page.locator("li.alert-card").first).to_be_visible()  # the stored list has loaded
    cards = page.locator("li.alert-card")

    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        seen_live = await failed_training_alert(client, machine_id, "BASELINE")
        await expect(page.locator(f"li[data-alert-id='{seen_live['id']}']")).to_contain_text("training failed")

        proxy.hold_new_connections()
        await proxy.drop_connection()
        await expect(live).to_contain_text("Connection lost")
        missed = await failed_training_alert(client, machine_id, "ANOMALY")
        proxy.release()

        again = await proxy.subscription(2)
        assert len(proxy.connections) == 2
        assert again["payload"]["variables"] == {"since": seen_live["createdAt"]}
        await expect(live).to_have_text("Live")
        await expect(page.locator(f"li[data-alert-id='{missed['id']}']")).to_be_visible()

        after = await failed_training_alert(client, machine_id, "FORECAST_ARIMA")
        await expect(page.locator(f"li[data-alert-id='{after['id']}']")).to_be_visible()
    for alert in (seen_live, missed, after):
        await expect(page.locator(f"li[data-alert-id='{alert['id']}']")).to_have_count(1)
    await expect(cards.filter(has_text=name)).to_have_count(3)
    await page.screenshot(path=screenshot_path("alerts-live"), full_page=True)
