"""What the dashboard shows when the API reports an error or has nothing yet, and how A/B results read.

Error answers and A/B results are served to the browser from here (the server cannot produce them on
demand), in the shape the GraphQL schema gives them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, Route, expect

from tests.e2e.conftest import Server, screenshot_path
from tests.e2e.seed import DRIFTING_MACHINE, HEALTHY_MACHINE, SeededFleet

pytestmark = pytest.mark.e2e


async def answer(route: Route, body: dict[str, Any]) -> None:
    await route.fulfill(status=200, content_type="application/json", body=json.dumps(body))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("UNAUTHENTICATED", "API token"),
        ("FORBIDDEN", "Your token's role does not allow this"),
        ("CONFLICT", "CONFLICT"),
        ("INTERNAL", "Try again"),
    ],
)
async def test_api_errors_are_shown_with_their_message_and_code(
    page: Page, server: Server, code: str, expected: str
) -> None:
    message = f"the API says {code.lower()}"
    error = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    await page.route("**/graphql", lambda route: answer(route, error))
    await page.goto(f"{server.base_url}/#/fleet")

    state = page.locator(f"[data-code='{code}']")
    await expect(state).to_contain_text(message)
    await expect(state).to_contain_text(expected)
    await expect(page.locator(".state-loading")).to_have_count(0)
    await page.screenshot(path=screenshot_path(f"error-{code.lower()}"))


async def test_ab_tests_page_says_how_to_start_one_when_there_is_none(page: Page, server: Server) -> None:
    await page.goto(f"{server.base_url}/#/abtests")
    await expect(page.locator(".state-empty")).to_contain_text("startAbTest")


async def test_ab_tests_show_arms_decision_and_winner(page: Page, server: Server, fleet: SeededFleet) -> None:
    started = datetime.now(UTC) - timedelta(days=2)
    running = ab_test(fleet.healthy_machine_id, "RUNNING", started, decided=False, winner=None, p_value=0.31)
    finished = ab_test(fleet.drifting_machine_id, "COMPLETED", started, decided=True, winner="B", p_value=0.004)

    async def serve_tests(route: Route) -> None:
        if "AbTests" in (route.request.post_data or ""):
            machines = [
                {"id": fleet.healthy_machine_id, "name": HEALTHY_MACHINE.name},
                {"id": fleet.drifting_machine_id, "name": DRIFTING_MACHINE.name},
            ]
            await answer(route, {"data": {"machines": machines, "abTests": [running, finished]}})
        else:
            await route.continue_()

    await page.route("**/graphql", serve_tests)
    await page.goto(f"{server.base_url}/#/abtests")

    running_card = page.locator(f"article[data-test-id='{running['id']}']")
    finished_card = page.locator(f"article[data-test-id='{finished['id']}']")
    await expect(page.get_by_role("heading", name="Running (1)")).to_be_visible()
    await expect(running_card).to_contain_text("Undecided — collecting samples")
    await expect(running_card.locator("tbody tr").first).to_contain_text("412 of 500")
    await expect(finished_card.locator("tr.winner")).to_contain_text("B ★ winner")
    await expect(finished_card).to_contain_text("0.0040")  # p-value, said what it is, and no "confidence" 1 − p
    await expect(finished_card).to_contain_text("if both versions were equally accurate")
    await expect(finished_card).not_to_contain_text("99.6")
    method = finished_card.locator("[data-method='welch_t_test']")
    await expect(method).to_have_text("Welch's t-test on absolute errors")
    await expect(finished_card.locator("thead")).to_contain_text("MAE (kWh)")
    await expect(finished_card.locator("thead")).to_contain_text("RMSE (kWh)")
    await page.screenshot(path=screenshot_path("abtests"), full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await page.evaluate("document.documentElement.scrollWidth - window.innerWidth") == 0
    await page.screenshot(path=screenshot_path("abtests-phone"), full_page=True)


def ab_test(
    machine_id: str, status: str, started: datetime, *, decided: bool, winner: str | None, p_value: float
) -> dict[str, Any]:
    def version(number: int, stage: str) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "version": number, "stage": stage}

    return {
        "id": str(uuid.uuid4()),
        "machineId": machine_id,
        "modelType": "BASELINE",
        "trafficSplit": 0.5,
        "status": status,
        "startedAt": started.isoformat(),
        "endsAt": (started + timedelta(days=7)).isoformat(),
        "minSamples": 500,
        "significance": 0.05,
        "modelA": version(1, "CHAMPION"),
        "modelB": version(2, "CANDIDATE"),
        "results": {
            "samplesA": 412 if status == "RUNNING" else 1680,
            "samplesB": 398 if status == "RUNNING" else 1702,
            "maeA": 4.21,
            "maeB": 3.87,
            "rmseA": 5.6,
            "rmseB": 5.1,
            "method": "welch_t_test",
            "pValue": p_value,
            "decided": decided,
            "winner": winner,
            "sampleRatioMismatch": False,
        },
    }
