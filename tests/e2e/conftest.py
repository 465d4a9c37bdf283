"""Browser tests against real `kilowatch serve` processes: embedded mode, a temporary SQLite file,
access control off (or on, for the sign-in tests), seeded through the public API, driven by
headless Chromium.

Chromium must be installed (`apt-get install -y chromium`); without it every test here fails with
that instruction instead of being skipped, so a CI run can never pass without exercising the browser.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from tests.e2e.seed import SeededFleet, seed_fleet
from tests.faults import free_port, kilowatch_environment, kilowatch_process, wait_until_up

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1366, "height": 900}
DASHBOARD_LINK = re.compile(r"^Dashboard: (\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class Server:
    base_url: str
    database_url: str
    log: Path
    #: The sign-in link `kilowatch serve` prints when it creates the first administrator token.
    dashboard_link: str | None


@dataclass
class BrowserConsole:
    """Errors the page reported: console.error calls, failed loads Chromium logs, uncaught exceptions."""

    errors: list[str] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url')})")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server most tests share: access control off, seeded once by the `fleet` fixture."""
    with running_server(tmp_path_factory.mktemp("e2e"), auth="off") as running:
        yield running


@pytest.fixture(scope="session")
def secured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with access control on and an empty database: its first start prints an admin link."""
    with running_server(tmp_path_factory.mktemp("e2e-secured"), auth="on") as running:
        yield running


@contextmanager
def running_server(directory: Path, auth: str) -> Iterator[Server]:
    database_url = f"sqlite+aiosqlite:///{directory / 'kilowatch.db'}"
    log = directory / "server.log"
    port = free_port()
    environment = kilowatch_environment(database_url, {"KILOWATCH_AUTH": auth, "KILOWATCH_LOG_LEVEL": "WARNING"})
    with kilowatch_process(["serve", "--host", "127.0.0.1", "--port", str(port)], environment, log) as process:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_up(process, f"{base_url}/healthz", log)
        link = DASHBOARD_LINK.search(log.read_text())
        yield Server(base_url=base_url, database_url=database_url, log=log, dashboard_link=link and link[1])


@pytest.fixture(scope="session")
async def fleet(server: Server) -> SeededFleet:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        return await seed_fleet(client, server.database_url)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the e2e tests drive a real browser. "
            "Install it with `apt-get install -y chromium`.",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
def console() -> BrowserConsole:
    return BrowserConsole()


@pytest.fixture
async def page(browser: Browser, console: BrowserConsole, fleet: SeededFleet) -> AsyncIterator[Page]:
    """A fresh browser context per test (no shared localStorage); fails the test on any console error."""
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.on("console", console.record)
    page.on("pageerror", lambda error: console.errors.append(f"uncaught: {error}"))
    yield page
    await context.close()
    assert console.errors == [], "the browser console reported errors"


def screenshot_path(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / f"{name}.png")
