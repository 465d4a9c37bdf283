"""Websocket access over a real socket: a uvicorn server in a thread, the graphql-transport-ws protocol."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from app.config import Settings
from app.db import transaction
from app.enums import Role
from app.resources import Resources
from app.services import tokens
from app.tables import AuditEntry
from app.web import create_app
from graphql_schema import auth
from tests.integration.auth_probes import DENIALS, allowed, probe, root_fields

PROTOCOL = Subprotocol("graphql-transport-ws")
#: A refusal is decided before any resolver runs, so it arrives at once; silence after this means "streaming".
FIRST_MESSAGE_WAIT_S = 0.5


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        thread.join(10)


async def _token(resources: Resources, role: Role) -> str:
    async with transaction(resources.sessions) as session:
        return (await tokens.issue(session, f"ws-{role.value}", role, created_by="tests")).secret


@asynccontextmanager
async def _session(url: str, payload: dict[str, Any], origin: str | None = None) -> AsyncIterator[ClientConnection]:
    async with connect(url, subprotocols=[PROTOCOL], origin=Origin(origin) if origin else None) as websocket:
        await websocket.send(json.dumps({"type": "connection_init", "payload": payload}))
        yield websocket


async def _connection_outcome(url: str, payload: dict[str, Any], origin: str | None = None) -> str | int:
    """``connection_ack``, or the close code the server answered ``connection_init`` with."""
    async with _session(url, payload, origin) as websocket:
        try:
            return json.loads(await asyncio.wait_for(websocket.recv(), 10))["type"]
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code


async def _first_answers(
    websocket: ClientConnection, operations: dict[str, tuple[str, dict[str, Any]]]
) -> dict[str, set[str]]:
    """Error codes of the first message about each operation, sent together; none for one streaming quietly."""
    for key, (document, variables) in operations.items():
        payload = {"query": document, "variables": variables}
        await websocket.send(json.dumps({"id": key, "type": "subscribe", "payload": payload}))
    answers: dict[str, set[str]] = {}
    deadline = asyncio.get_running_loop().time() + FIRST_MESSAGE_WAIT_S
    while len(answers) < len(operations):
        try:
            message = json.loads(await asyncio.wait_for(websocket.recv(), deadline - asyncio.get_running_loop().time()))
        except TimeoutError:
            break
        if message.get("id") in operations and message["id"] not in answers:
            payload = message.get("payload")
            errors = payload if message["type"] == "error" else (payload or {}).get("errors") or []
            answers[message["id"]] = {error.get("extensions", {}).get("code") for error in errors}
    for key in operations:
        await websocket.send(json.dumps({"id": key, "type": "complete"}))
    return {key: answers.get(key, set()) for key in operations}


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_a_connection_needs_a_valid_token(live_server: str, resources: Resources) -> None:
    viewer = await _token(resources, Role.VIEWER)
    revoked = await _token(resources, Role.ADMIN)
    async with transaction(resources.sessions) as session:
        row = await tokens.find_active(session, revoked)
        assert row is not None
        await tokens.revoke(session, row.id)

    assert await _connection_outcome(live_server, {}) == 4401
    assert await _connection_outcome(live_server, _bearer("kw_" + "x" * 43)) == 4401
    assert await _connection_outcome(live_server, {"Authorization": viewer}) == 4401  # no scheme
    assert await _connection_outcome(live_server, _bearer(revoked)) == 4401
    assert await _connection_outcome(live_server, _bearer(viewer)) == "connection_ack"
    assert await _connection_outcome(live_server, {"authorization": f"bearer {viewer}"}) == "connection_ack"


async def _check_subscription_matrix(url: str, resources: Resources) -> dict[tuple[str, Role], set[str]]:
    outcomes = {}
    for role in Role:
        async with _session(url, _bearer(await _token(resources, role))) as websocket:
            assert json.loads(await websocket.recv())["type"] == "connection_ack"
            probes = {name: probe("subscription", name, field) for name, field in root_fields("Subscription")}
            for name, codes in (await _first_answers(websocket, probes)).items():
                outcomes[(name, role)] = codes
                if allowed("Subscription", name, role):
                    assert not codes & DENIALS and None not in codes, (name, role, codes)
                else:
                    assert codes == {"FORBIDDEN"}, (name, role, codes)
    return outcomes


async def test_every_subscription_answers_each_role_as_the_map_says(live_server: str, resources: Resources) -> None:
    outcomes = await _check_subscription_matrix(live_server, resources)

    assert len(outcomes) == len(Role) * len(root_fields("Subscription"))


async def test_a_subscription_above_the_connection_role_is_forbidden_and_the_connection_stays(
    live_server: str, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, _ = root_fields("Subscription")[0]
    monkeypatch.setitem(auth.REQUIRED_ROLE, f"Subscription.{name}", Role.ADMIN)

    outcomes = await _check_subscription_matrix(live_server, resources)

    assert outcomes[(name, Role.OPERATOR)] == {"FORBIDDEN"}
    assert not outcomes[(name, Role.ADMIN)] & DENIALS


async def test_a_role_that_can_run_no_subscription_is_refused_with_4403(
    live_server: str, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, _ in root_fields("Subscription"):
        monkeypatch.setitem(auth.REQUIRED_ROLE, f"Subscription.{name}", Role.OPERATOR)

    assert await _connection_outcome(live_server, _bearer(await _token(resources, Role.VIEWER))) == 4403
    assert await _connection_outcome(live_server, _bearer(await _token(resources, Role.OPERATOR))) == "connection_ack"


async def test_queries_and_mutations_sent_over_the_websocket_are_checked_too(
    live_server: str, resources: Resources
) -> None:
    mutation = 'mutation { registerMachine(name: "over the socket") { id } }'
    answers = {}
    for role in (Role.VIEWER, Role.OPERATOR):
        async with _session(live_server, _bearer(await _token(resources, role))) as websocket:
            assert json.loads(await websocket.recv())["type"] == "connection_ack"
            answers[role] = (await _first_answers(websocket, {"register": (mutation, {})}))["register"]

    assert answers == {Role.VIEWER: {"FORBIDDEN"}, Role.OPERATOR: set()}
    assert await _audited(resources, 2) == [("ws-viewer", "FORBIDDEN"), ("ws-operator", "ok")]


async def _audited(resources: Resources, count: int) -> list[tuple[str | None, str]]:
    """The audit entries, once ``count`` exist: they are written just after the answer has left."""
    deadline = time.monotonic() + 5
    while True:
        async with resources.sessions() as session:
            entries = (await session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))).all()
        if len(entries) >= count or time.monotonic() > deadline:
            return [(entry.actor, entry.outcome) for entry in entries]
        await asyncio.sleep(0.05)


async def test_pages_on_other_origins_cannot_open_a_socket_unless_listed(live_server: str) -> None:
    port = live_server.split(":")[2].split("/")[0]

    with pytest.raises(InvalidStatus) as refused:
        await _connection_outcome(live_server, {}, origin="https://elsewhere.example")
    same_origin = await _connection_outcome(live_server, {}, origin=f"http://127.0.0.1:{port}")

    assert refused.value.response.status_code == 403
    assert same_origin == 4401  # past the origin check, on to the token check
