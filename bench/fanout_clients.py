"""One shard of `bench/fanout.py`'s websocket clients, run as a process of its own.

The benchmark measures the server; its clients are all on the same two-core machine, so they are made
as cheap as a client can be: each connection is an ``asyncio.Protocol`` around websockets' sans-I/O
``ClientProtocol`` that parses and timestamps a message in the transport's callback. The asyncio client
of ``tests/websocket_client.py`` (a queue and a task wake-up per message) took ~80 µs per message, so
one process behind 1,000 connections finished parsing ~20 ms after the server's last send and that
queueing showed up as latency; this one keeps up with the server. It never offers permessage-deflate
(the server does not accept it either).

It talks to the coordinator in JSON lines on stdin and stdout:

- it prints ``{"ready": true}`` once every one of its clients has received some alert (the coordinator
  publishes warm-up alerts until then: a subscription is live only once the server has handled it);
- then, for each alert id read from stdin, it prints ``{"received": id}`` once all its clients have it;
- on an empty line it prints ``{"receipts": {alert id: [receipt times]}}`` and exits.

Receipt times are ``time.monotonic()`` taken right after a client parsed the message. On Linux that is
CLOCK_MONOTONIC, one clock for every process of the machine, so the coordinator subtracts its own
publish times from them.

    python bench/fanout_clients.py URL CLIENTS QUERY VARIABLES_JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter, defaultdict
from typing import Any, cast

import uvloop
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

PROTOCOL = Subprotocol("graphql-transport-ws")
#: Connections opened at once; more makes the server's accept backlog overflow.
CONNECT_BATCH = 100
#: Longest wait for one alert to reach every client of the shard.
RECEIPT_TIMEOUT_S = 60.0


class Shard:
    """What this process's clients received, and when."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.receipts: dict[str, list[float]] = defaultdict(list)
        self.arrived: Counter[str] = Counter()
        self.arrival = asyncio.Event()
        self.silent = clients
        self.all_heard = asyncio.Event()

    def record(self, alert_id: str, received: float, first: bool) -> None:
        self.receipts[alert_id].append(received)
        self.arrived[alert_id] += 1
        self.arrival.set()
        if first:
            self.silent -= 1
            if not self.silent:
                self.all_heard.set()

    async def everyone_has(self, alert_id: str) -> None:
        while self.arrived[alert_id] < self.clients:
            self.arrival.clear()
            await self.arrival.wait()


class Client(asyncio.Protocol):
    """One graphql-transport-ws connection subscribed to ``alertRaised``."""

    def __init__(self, url: str, shard: Shard) -> None:
        self.shard = shard
        self.websocket = ClientProtocol(parse_uri(url), subprotocols=[PROTOCOL])
        self.transport: asyncio.Transport | None = None
        self.acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.heard = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.websocket.send_request(self.websocket.connect())
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.websocket.receive_data(data)
        for event in self.websocket.events_received():
            if isinstance(event, Response):
                if self.websocket.state is not State.OPEN:
                    self.acknowledged.set_exception(RuntimeError(f"handshake refused: {event.status_code}"))
                    return
                self.send({"type": "connection_init", "payload": {}})
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.handle(json.loads(event.data))
        self.flush()

    def handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "next":
            received = time.monotonic()
            self.shard.record(message["payload"]["data"]["alertRaised"]["id"], received, not self.heard)
            self.heard = True
        elif kind == "connection_ack":
            self.acknowledged.set_result(None)
        elif kind == "ping":
            self.send({"type": "pong"})
        elif kind != "pong":
            raise RuntimeError(f"unexpected message: {json.dumps(message)[:300]}")

    def send(self, message: dict[str, Any]) -> None:
        self.websocket.send_text(json.dumps(message).encode())
        self.flush()

    def flush(self) -> None:
        assert self.transport is not None
        for data in self.websocket.data_to_send():
            if data:
                self.transport.write(data)

    def connection_lost(self, error: Exception | None) -> None:
        if not self.acknowledged.done():
            self.acknowledged.set_exception(error or ConnectionError("closed before connection_ack"))


async def connect(url: str, shard: Shard) -> Client:
    address = parse_uri(url)
    _, client = await asyncio.get_running_loop().create_connection(
        lambda: Client(url, shard), address.host, address.port
    )
    await client.acknowledged
    return client


def say(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def main(url: str, clients: int, query: str, variables: dict[str, object]) -> None:
    shard = Shard(clients)
    connections: list[Client] = []
    try:
        for start in range(0, clients, CONNECT_BATCH):
            batch = min(CONNECT_BATCH, clients - start)
            connections += await asyncio.gather(*(connect(url, shard) for _ in range(batch)))
        subscribe = {"query": query, "variables": variables}
        for number, client in enumerate(connections):
            client.send({"id": str(number), "type": "subscribe", "payload": subscribe})
        await shard.all_heard.wait()
        say({"ready": True})
        loop = asyncio.get_running_loop()
        while alert_id := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            try:
                await asyncio.wait_for(shard.everyone_has(alert_id), RECEIPT_TIMEOUT_S)
            except TimeoutError:
                raise SystemExit(f"{alert_id} reached {shard.arrived[alert_id]} of {clients} clients") from None
            say({"received": alert_id})
        say({"receipts": shard.receipts})
    finally:
        for client in connections:
            client.websocket.send_close()
            client.flush()
            assert client.transport is not None
            client.transport.close()


if __name__ == "__main__":
    address, count, document, variables_json = sys.argv[1:5]
    uvloop.run(main(address, int(count), document, json.loads(variables_json)))
