"""Browser tests against real `kilowatch serve` processes: embedded mode, a temporary SQLite file,
access control off (or on, for the sign-in tests), seeded through the public API, driven by
headless Chromium.

Chromium must be installed (`apt-get install -y chromium`); without it every test here fails with
that instruction instead of being skipped, so a CI run can never pass without exercising the browser.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from tests.e2e.seed import SeededFleet, seed_fleet

REPOSITORY = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STARTUP_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_S = 10.0
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
    port = _free_port()
    environment = {
        **os.environ,
        "KILOWATCH_DATABASE_URL": database_url,
        "KILOWATCH_AUTH": auth,
        "KILOWATCH_LOG_LEVEL": "WARNING",
    }
    environment.pop("KILOWATCH_REDIS_URL", None)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPOSITORY,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_healthy(process, base_url, log)
        link = DASHBOARD_LINK.search(log.read_text())
        yield Server(base_url=base_url, database_url=database_url, log=log, dashboard_link=link and link[1])
    finally:
        process.terminate()
        try:
            process.wait(SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"kilowatch serve exited with {process.returncode}:\n{log.read_text()}", pytrace=False)
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"kilowatch serve was not healthy after {STARTUP_TIMEOUT_S:.0f} s:\n{log.read_text()}", pytrace=False)
