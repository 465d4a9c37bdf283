"""A minimal graphql-transport-ws client for tests and benchmarks (the protocol the dashboard speaks)."""

from __future__ import annotations

import json
import uuid
from types import TracebackType
from typing import Any

import websockets

PROTOCOL = "graphql-transport-ws"


class GraphQLSocket:
    def __init__(self, url: str, token: str | None = None) -> None:
        self._url = url
        self._token = token
        self._socket: Any = None

    async def __aenter__(self) -> GraphQLSocket:
        self._socket = await websockets.connect(self._url, subprotocols=[PROTOCOL], max_queue=None)
        payload = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        await self._socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        acknowledgement = json.loads(await self._socket.recv())
        assert acknowledgement["type"] == "connection_ack", acknowledgement
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self._socket.close()

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        operation_id = uuid.uuid4().hex
        message = {"id": operation_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        await self._socket.send(json.dumps(message))
        return operation_id

    async def receive(self) -> dict[str, Any]:
        """The next message that is not a ping (pings are answered)."""
        while True:
            message = json.loads(await self._socket.recv())
            if message["type"] == "ping":
                await self._socket.send(json.dumps({"type": "pong"}))
                continue
            return message
