"""GraphiQL in a real browser with every request leaving the server refused and counted as a failure:
the page, its libraries and the schema come from Kilowatch itself, and a query typed into it runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, Route, WebSocket, expect

from tests.e2e.conftest import Server, screenshot_path
from tests.e2e.seed import HEALTHY_MACHINE, SeededFleet

pytestmark = pytest.mark.e2e

CutOff = Callable[[Server], Awaitable[None]]


@pytest.fixture
async def network_cut(page: Page) -> AsyncIterator[CutOff]:
    """Lets the page reach one server only; every other request is aborted and fails the test."""
    outside: list[str] = []

    async def cut_off(server: Server) -> None:
        own = urlsplit(server.base_url).netloc

        async def guard(route: Route) -> None:
            address = urlsplit(route.request.url)
            if address.scheme in ("data", "blob") or address.netloc == own:
                await route.continue_()
            else:
                outside.append(route.request.url)
                await route.abort("internetdisconnected")

        def socket_opened(socket: WebSocket) -> None:
            if urlsplit(socket.url).netloc != own:
                outside.append(socket.url)

        await page.context.route("**/*", guard)
        page.on("websocket", socket_opened)

    yield cut_off
    assert outside == [], "the page requested something outside the server"


async def open_graphiql(page: Page, server: Server) -> None:
    await page.goto(f"{server.base_url}/graphql")
    # The documentation explorer lists the schema's types only once introspection succeeded.
    await page.get_by_role("button", name="Show Documentation Explorer").click()
    await expect(page.locator(".graphiql-doc-explorer")).to_contain_text("TrainingJob", timeout=30_000)


async def run_in_graphiql(page: Page, query: str) -> None:
    await page.evaluate(
        "text => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(text)", query
    )
    # GraphiQL takes in an edit (operation name included) 100 ms later, then stores it: wait for that.
    await page.wait_for_function("text => localStorage.getItem('graphiql:query') === text", arg=query)
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()


async def test_graphiql_loads_the_schema_and_runs_a_query_with_the_network_cut(
    page: Page, server: Server, fleet: SeededFleet, network_cut: CutOff
) -> None:
    await network_cut(server)
    await open_graphiql(page, server)
    await page.get_by_role("button", name="Show GraphiQL Explorer").click()  # the explorer plugin
    await expect(page.locator(".graphiql-explorer-root")).to_contain_text("machines")
    await run_in_graphiql(page, "{ machines { name readingsCount } }")

    result = page.locator(".graphiql-response")
    await expect(result).to_contain_text(HEALTHY_MACHINE.name)
    await expect(result).to_contain_text('"readingsCount"')
    await page.screenshot(path=screenshot_path("graphiql"))


async def test_graphiql_carries_the_dashboard_sign_in_with_access_control_on(
    page: Page, secured_server: Server, network_cut: CutOff
) -> None:
    assert secured_server.dashboard_link, secured_server.log.read_text()
    await network_cut(secured_server)
    await page.goto(secured_server.dashboard_link)  # signs in: the dashboard keeps the token in localStorage
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    await open_graphiql(page, secured_server)
    await run_in_graphiql(page, "{ apiTokens { role } }")  # administrators only

    await expect(page.locator(".graphiql-response")).to_contain_text('"ADMIN"')
