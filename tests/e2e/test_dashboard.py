"""The dashboard in a real browser against a real, seeded server: fleet, model page, alerts and sign-in."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.async_api import Page, Request, expect

from app.enums import AlertType, Severity
from tests.e2e.conftest import Server, screenshot_path
from tests.e2e.seed import (
    DRIFTING_CV_RMSE,
    DRIFTING_MACHINE,
    HEALTHY_MACHINE,
    STANDING_ALERT_MESSAGE,
    SeededFleet,
    graphql_data,
    raise_test_alert,
)

pytestmark = pytest.mark.e2e


async def test_fleet_lists_seeded_machines_with_metrics_judged_against_policy(page: Page, server: Server) -> None:
    queries: list[Request] = []
    page.on("request", lambda request: queries.append(request) if request.url.endswith("/graphql") else None)
    await page.goto(f"{server.base_url}/")

    table = page.locator("table.fleet-table")
    await expect(table).to_be_visible()
    healthy = table.locator(f"tbody[data-machine='{HEALTHY_MACHINE.name}'] tr[data-model-type='BASELINE']")
    drifting = table.locator(f"tbody[data-machine='{DRIFTING_MACHINE.name}'] tr[data-model-type='BASELINE']")
    await expect(healthy.locator("[data-metric='cvRmse'] .level")).to_have_attribute("data-level", "ok")
    await expect(healthy.locator("[data-metric='cvRmse']")).to_contain_text("10.0 %")
    await expect(drifting.locator("[data-metric='cvRmse'] .level")).to_have_attribute("data-level", "critical")
    await expect(drifting.locator("[data-metric='cvRmse']")).to_contain_text("42.0 %")
    # The stored policy of the drifting series asks for R² ≥ 0.7; the default policy has no minimum.
    await expect(drifting.locator("[data-metric='rSquared'] .level")).to_have_attribute("data-level", "critical")
    await expect(healthy.locator("[data-metric='rSquared'] .level")).to_have_attribute("data-level", "none")
    await expect(drifting.locator("[data-metric='openAlerts'] .level")).to_have_attribute("data-level", "critical")
    await expect(drifting.locator("[data-metric='openAlerts']")).to_contain_text("1")
    # Untrained, unevaluated series are listed too, plainly marked as such.
    untrained = table.locator(f"tbody[data-machine='{HEALTHY_MACHINE.name}'] tr[data-model-type='ANOMALY']")
    await expect(untrained).to_contain_text("none")
    assert len(queries) == 1  # the whole fleet in one GraphQL query
    await page.screenshot(path=screenshot_path("fleet"), full_page=True)


async def test_fleet_shows_the_worst_first_and_filters_by_health_and_name(page: Page, server: Server) -> None:
    await page.goto(f"{server.base_url}/#/fleet")
    table = page.locator("table.fleet-table")
    # The drifting series is outside its policy and has a critical alert open: critical machines lead the page.
    await expect(table.locator("tbody").first.locator("[data-health]")).to_have_attribute("data-health", "CRITICAL")
    drifting = table.locator(f"tbody[data-machine='{DRIFTING_MACHINE.name}'] [data-health]")
    await expect(drifting).to_have_attribute("data-health", "CRITICAL")

    await page.get_by_label("Show").select_option("CRITICAL")
    await expect(table.locator("[data-health]:not([data-health='CRITICAL'])")).to_have_count(0)
    await expect(drifting).to_be_visible()
    critical = await table.locator("tbody").count()
    await expect(page.locator("nav.pager").first).to_contain_text(f"Machines 1–{critical} of {critical}")
    await expect(page.get_by_label("Show").locator("option[value='CRITICAL']")).to_have_text(f"Critical ({critical})")

    await page.get_by_label("Show").select_option("")
    await page.get_by_label("Machine name").fill(HEALTHY_MACHINE.name.upper())
    await page.get_by_label("Machine name").press("Enter")
    await expect(table.locator("tbody")).to_have_count(1)
    await expect(table.locator("tbody")).to_have_attribute("data-machine", HEALTHY_MACHINE.name)
    await expect(page.get_by_role("button", name="Next").first).to_be_disabled()


async def test_model_page_draws_trend_with_policy_thresholds(page: Page, server: Server) -> None:
    await page.goto(f"{server.base_url}/#/fleet")
    row = page.locator(f"tbody[data-machine='{DRIFTING_MACHINE.name}'] tr[data-model-type='BASELINE']")
    await row.get_by_role("link", name="Baseline").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text(f"{DRIFTING_MACHINE.name} · Baseline")
    chart = page.locator("figure.chart").filter(has_text="CV(RMSE)")
    await expect(chart.locator("svg.trend-chart .point")).to_have_count(len(DRIFTING_CV_RMSE))
    await expect(chart.locator("line.threshold-critical")).to_have_count(1)
    await expect(chart.locator("text.threshold-label")).to_have_text("max 35.0 %")
    await expect(chart.locator("svg.trend-chart .point-critical")).to_have_count(1)  # only 42 % is above 35 %
    nmbe = page.locator("figure.chart").filter(has_text="NMBE")
    await expect(nmbe.locator("line.threshold-critical")).to_have_count(2)  # the ±5 % band
    await expect(page.locator(".policy")).to_contain_text("35 %")
    await expect(page.locator("[data-section='versions']")).to_contain_text("No versions yet")
    await expect(page.get_by_role("button", name="Retrain")).to_be_enabled()
    await page.screenshot(path=screenshot_path("model"), full_page=True)


async def test_alert_is_acknowledged_then_resolved_with_a_note(page: Page, server: Server, fleet: SeededFleet) -> None:
    message = f"Data drift on outdoor temperature ({uuid.uuid4().hex[:8]})"
    alert_id = await raise_test_alert(
        server.database_url, uuid.UUID(fleet.healthy_machine_id), AlertType.DRIFT, Severity.WARNING, message
    )
    note = "Sensor recalibrated on site"
    await page.goto(f"{server.base_url}/#/alerts")

    card = page.locator(f"li[data-alert-id='{alert_id}']")
    await expect(card).to_contain_text(message)
    await expect(card).to_have_attribute("data-status", "OPEN")
    await expect(page.locator("li.alert-card").filter(has_text=STANDING_ALERT_MESSAGE)).to_be_visible()
    await card.get_by_role("button", name="Acknowledge").click()
    await expect(card).to_have_attribute("data-status", "ACKNOWLEDGED")
    await expect(card.get_by_role("button", name="Acknowledge")).to_have_count(0)
    await page.screenshot(path=screenshot_path("alerts-acknowledged"), full_page=True)

    await card.get_by_label("Resolution note").fill(note)
    await card.get_by_role("button", name="Resolve").click()
    await expect(page.locator(".page-feedback")).to_have_text("Alert resolved.")
    await expect(card).to_have_count(0)  # gone from the default "Unresolved" view
    await page.get_by_label("Status").select_option("RESOLVED")
    await expect(card).to_contain_text(note)
    await page.screenshot(path=screenshot_path("alerts-resolved"), full_page=True)

    async with httpx.AsyncClient(base_url=server.base_url) as client:
        stored = await graphql_data(client, "{ alerts(status: [RESOLVED]) { id resolutionNote } }", {})
    assert {"id": alert_id, "resolutionNote": note} in stored["alerts"]


async def test_token_in_link_is_kept_sent_and_removed_from_the_address_bar(page: Page, server: Server) -> None:
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request) if request.url.endswith("/graphql") else None)
    await page.goto(f"{server.base_url}/?token=e2e-secret#/fleet")

    await expect(page.locator("table.fleet-table")).to_be_visible()
    assert "token" not in page.url and page.url.endswith("/#/fleet")
    assert await page.evaluate("localStorage.getItem('kilowatch.token')") == "e2e-secret"
    assert requests
    assert {await request.header_value("authorization") for request in requests} == {"Bearer e2e-secret"}

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert await page.evaluate("localStorage.getItem('kilowatch.token')") is None
