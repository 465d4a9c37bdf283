"""The server side of `graphql-transport-ws`, played inside the browser's network layer.

The public API's subscriptions are not served yet, so the dashboard's own client (connection_init
with the token, subscribe, next, reconnect and resubscribe) is checked against this stand-in, which
speaks the protocol as written in the graphql-ws specification and records what the page sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from playwright.async_api import Page, WebSocketRoute

WAIT_TIMEOUT_S = 10.0


class FakeSubscriptionServer:
    def __init__(self) -> None:
        self.connections: list[WebSocketRoute] = []
        self.received: list[dict[str, Any]] = []

    async def install(self, page: Page) -> None:
        await page.route_web_socket(lambda url: url.endswith("/graphql"), self._accept)

    def _accept(self, connection: WebSocketRoute) -> None:
        self.connections.append(connection)
        connection.on_message(lambda raw: self._receive(connection, json.loads(raw)))

    def _receive(self, connection: WebSocketRoute, message: dict[str, Any]) -> None:
        self.received.append(message)
        if message["type"] == "connection_init":
            connection.send(json.dumps({"type": "connection_ack"}))
        elif message["type"] == "ping":
            connection.send(json.dumps({"type": "pong"}))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.received if message["type"] == kind]

    async def subscription(self, count: int = 1) -> dict[str, Any]:
        """The `count`-th subscribe message the page has sent, waiting for it to arrive."""
        await wait_until(lambda: len(self.of_type("subscribe")) >= count, f"subscribe message #{count}")
        return self.of_type("subscribe")[count - 1]

    def send_next(self, subscribe: dict[str, Any], data: dict[str, Any]) -> None:
        """Send one event on the connection the latest subscription arrived on."""
        payload = {"id": subscribe["id"], "type": "next", "payload": {"data": data}}
        self.connections[-1].send(json.dumps(payload))

    async def drop_connection(self) -> None:
        await self.connections[-1].close(code=1011, reason="server restarting")


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_TIMEOUT_S:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)
