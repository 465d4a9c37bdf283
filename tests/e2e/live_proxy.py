"""A gate between the page and the real server's `/graphql` websocket, inside the browser's network layer.

Every connection the page opens is passed through to the real `kilowatch serve` (so what the page
receives is what the server streams); the proxy records what the page sends, can drop the current
connection as a network failure would, and can hold the page's next connection back — the page thinks
it is connected, its messages wait in the proxy — so a test can make things happen on the server while
the page is not listening, then let the page reconnect.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from playwright.async_api import Page, WebSocketRoute

WAIT_TIMEOUT_S = 15.0


class _Connection:
    """One page websocket: messages from the page are recorded, then forwarded or held until released."""

    def __init__(self, page_side: WebSocketRoute, record: Callable[[dict[str, Any]], None]) -> None:
        self.page_side = page_side
        self._record = record
        self._server_side: WebSocketRoute | None = None
        self._held: list[str | bytes] = []
        page_side.on_message(self._from_page)

    def _from_page(self, message: str | bytes) -> None:
        self._record(json.loads(message))
        if self._server_side is None:
            self._held.append(message)
        else:
            self._server_side.send(message)

    def connect(self) -> None:
        """Open the real connection and deliver what the page sent meanwhile, in order."""
        self._server_side = self.page_side.connect_to_server()
        for message in self._held:
            self._server_side.send(message)
        self._held.clear()


class LiveConnectionProxy:
    def __init__(self) -> None:
        self.connections: list[_Connection] = []
        self.sent: list[dict[str, Any]] = []
        self._open = asyncio.Event()
        self._open.set()

    async def install(self, page: Page) -> None:
        await page.route_web_socket(lambda url: url.endswith("/graphql"), self._accept)

    async def _accept(self, page_side: WebSocketRoute) -> None:
        connection = _Connection(page_side, self.sent.append)
        self.connections.append(connection)
        await self._open.wait()
        connection.connect()

    def hold_new_connections(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def drop_connection(self) -> None:
        """Close the page's current connection abnormally; the server side closes with it."""
        await self.connections[-1].page_side.close(code=1011, reason="connection lost")

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.sent if message["type"] == kind]

    async def subscription(self, count: int = 1) -> dict[str, Any]:
        """The `count`-th subscribe message the page has sent, waiting for it to arrive."""
        await wait_until(lambda: len(self.of_type("subscribe")) >= count, f"subscribe message #{count}")
        return self.of_type("subscribe")[count - 1]


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_TIMEOUT_S:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)
