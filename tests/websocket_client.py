"""A minimal GraphQL websocket client for tests: graphql-transport-ws (the protocol the dashboard speaks) or,
with ``protocol=LEGACY``, the legacy graphql-ws protocol (``KILOWATCH_LEGACY_GRAPHQL_WS``).

Messages are returned as they arrive, so a test sees each protocol's own names: ``next`` and ``subscribe``
on graphql-transport-ws, ``data`` and ``start`` on graphql-ws.
"""

from __future__ import annotations

import json
import uuid
from types import TracebackType
from typing import Any

import websockets

PROTOCOL = "graphql-transport-ws"
LEGACY = "graphql-ws"


class GraphQLSocket:
    def __init__(self, url: str, token: str | None = None, protocol: str = PROTOCOL) -> None:
        self._url = url
        self._token = token
        self.protocol = protocol
        self._socket: Any = None

    async def __aenter__(self) -> GraphQLSocket:
        self._socket = await websockets.connect(self._url, subprotocols=[self.protocol], max_queue=None)
        payload = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        await self._socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        acknowledgement = json.loads(await self._socket.recv())
        assert acknowledgement["type"] == "connection_ack", acknowledgement
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self._socket.close()

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        operation_id = uuid.uuid4().hex
        kind = "start" if self.protocol == LEGACY else "subscribe"
        message = {"id": operation_id, "type": kind, "payload": {"query": query, "variables": variables or {}}}
        await self._socket.send(json.dumps(message))
        return operation_id

    async def receive(self) -> dict[str, Any]:
        """The next message that is not a ping or keep-alive (pings are answered)."""
        while True:
            message = json.loads(await self._socket.recv())
            if message["type"] == "ping":
                await self._socket.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] == "ka":
                continue
            return message
