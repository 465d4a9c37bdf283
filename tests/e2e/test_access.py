"""Signing in against a server with access control on: the link `kilowatch serve` prints, the sign-in
box, signing out, and live updates refused for a token the server does not know."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, WebSocket, expect

from tests.e2e.conftest import Server, screenshot_path

pytestmark = pytest.mark.e2e

#: Longer than the client's first reconnect delay (at most 1 s), so a retry would have happened.
RETRY_WINDOW_MS = 1_500


async def test_printed_link_signs_in_and_the_sign_in_box_accepts_only_a_valid_token(
    page: Page, secured_server: Server
) -> None:
    assert secured_server.dashboard_link, secured_server.log.read_text()
    assert "/#token=" in secured_server.dashboard_link  # in the fragment: never sent to the server
    token = secured_server.dashboard_link.split("#token=", 1)[1]
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(secured_server.dashboard_link)
    await expect(page.locator(".state-empty")).to_contain_text("No machines yet")
    assert "token=" not in page.url
    assert requested and not any(token in url for url in requested)

    await page.get_by_role("button", name="Sign out").click()
    refusal = page.locator("[data-code='UNAUTHENTICATED']")
    await expect(refusal).to_contain_text("Authentication required")
    await page.screenshot(path=screenshot_path("sign-in-required"))

    await refusal.get_by_label("API token").fill("kw_not-a-token")
    await refusal.get_by_role("button", name="Sign in").click()
    await expect(refusal).to_contain_text("Authentication required")
    account = page.locator("#account")  # the header agrees with the page: this token is not accepted
    await expect(account.locator("[data-state='refused']")).to_have_text("Token not accepted")
    await expect(account).not_to_contain_text("Signed in")
    await page.screenshot(path=screenshot_path("token-not-accepted"))

    await page.get_by_role("button", name="Sign out").click()
    await page.locator("[data-code='UNAUTHENTICATED']").get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".state-empty")).to_contain_text("No machines yet")
    await expect(page.locator("#account [data-state='accepted']")).to_have_text("Signed in")


async def test_live_updates_refused_for_an_unknown_token_are_not_retried(page: Page, secured_server: Server) -> None:
    sockets: list[WebSocket] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    await page.goto(f"{secured_server.base_url}/?token=kw_not-a-token#/alerts")

    await expect(page.locator(".live-status[data-code='UNAUTHENTICATED']")).to_contain_text("need a valid token")
    await expect(page.locator(".state-error[data-code='UNAUTHENTICATED']")).to_be_visible()
    await page.wait_for_timeout(RETRY_WINDOW_MS)
    assert len(sockets) == 1
