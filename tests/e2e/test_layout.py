"""The dashboard at desktop and phone widths: nothing wider than the screen scrolls the whole page."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Page, Route, expect

from tests.e2e.conftest import Server, screenshot_path
from tests.e2e.seed import HEALTHY_MACHINE, SeededFleet

pytestmark = pytest.mark.e2e

WIDTHS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


async def page_overflow(page: Page) -> tuple[int, list[str]]:
    """Pixels the page is wider than the window (0: only inner containers scroll sideways), and the
    outermost elements that stick out."""
    return await page.evaluate(
        """() => [document.documentElement.scrollWidth - window.innerWidth,
            [...document.querySelectorAll("body *")]
              .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
              .filter((e) => !e.parentElement.closest(".table-scroll"))
              .slice(0, 5)
              .map((e) => `${e.tagName}.${e.className}: ${e.textContent.slice(0, 40)}`)]"""
    )


@pytest.mark.parametrize("width", sorted(WIDTHS))
async def test_the_fleet_table_scrolls_inside_its_container_not_the_page(
    page: Page, server: Server, fleet: SeededFleet, width: str
) -> None:
    await page.set_viewport_size(WIDTHS[width])
    await page.goto(f"{server.base_url}/#/fleet")
    await expect(page.locator(f"tbody[data-machine='{HEALTHY_MACHINE.name}']")).to_be_visible()

    await page.screenshot(path=screenshot_path(f"fleet-{width}"), full_page=True)
    overflow, sticking_out = await page_overflow(page)
    assert overflow == 0, sticking_out
    scroller = page.locator(".table-scroll").first
    box = await scroller.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTHS[width]["width"]


@pytest.mark.parametrize("width", sorted(WIDTHS))
async def test_threshold_labels_of_close_lines_do_not_overlap(
    page: Page, server: Server, fleet: SeededFleet, width: str
) -> None:
    """The drift score's warning (0.1) and critical (0.25) lines lie close under scores of several units."""

    async def with_drift_scores(route: Route) -> None:
        response = await route.fetch()
        body = await response.json()
        if "performanceTrend" in (route.request.post_data or ""):
            for index, point in enumerate(body["data"]["modelSeries"]["performanceTrend"]):
                point["driftScore"] = 1.5 * index
        await route.fulfill(response=response, body=json.dumps(body))

    await page.set_viewport_size(WIDTHS[width])
    await page.route("**/graphql", with_drift_scores)
    await page.goto(f"{server.base_url}/#/model/{fleet.drifting_machine_id}/BASELINE")
    chart = page.locator("figure.chart", has_text="Data drift")
    await expect(chart.locator(".threshold-label")).to_have_count(2)

    boxes = [await label.bounding_box() for label in await chart.locator(".threshold-label").all()]
    await chart.screenshot(path=screenshot_path(f"drift-chart-{width}"))
    upper, lower = sorted((box for box in boxes if box is not None), key=lambda box: box["y"])
    assert upper["y"] + upper["height"] <= lower["y"] + 0.5, boxes  # one above the other, not on top
    overflow, sticking_out = await page_overflow(page)
    assert overflow == 0, sticking_out
