"""Websocket access over a real socket: a uvicorn server in a thread, on graphql-transport-ws and on the legacy
graphql-ws protocol (``KILOWATCH_LEGACY_GRAPHQL_WS``), which must authenticate and authorize alike."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from app.config import Settings
from app.db.engine import transaction
from app.db.tables import AuditEntry
from app.enums import Role
from app.http.web import create_app
from app.runtime.resources import Resources
from app.services.access import tokens
from graphql_schema.engine import auth
from tests.integration.auth_probes import DENIALS, allowed, probe, root_fields

PROTOCOL = Subprotocol("graphql-transport-ws")
LEGACY = Subprotocol("graphql-ws")
#: What each protocol calls starting and stopping an operation.
START = {PROTOCOL: "subscribe", LEGACY: "start"}
STOP = {PROTOCOL: "complete", LEGACY: "stop"}
#: A refusal is decided before any resolver runs, so it arrives at once; silence after this means "streaming".
FIRST_MESSAGE_WAIT_S = 0.5


@contextmanager
def _serving(settings: Settings) -> Iterator[str]:
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


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    """Both protocols accepted."""
    with _serving(settings.model_copy(update={"legacy_graphql_ws": True})) as url:
        yield url


@pytest.fixture
def transport_only_server(settings: Settings) -> Iterator[str]:
    """The default: graphql-transport-ws only."""
    with _serving(settings) as url:
        yield url


@pytest.fixture(params=[PROTOCOL, LEGACY])
def protocol(request: pytest.FixtureRequest) -> Subprotocol:
    return request.param  # type: ignore[no-any-return]


async def _token(resources: Resources, role: Role) -> str:
    async with transaction(resources.sessions) as session:
        return (await tokens.issue(session, f"ws-{role.value}", role, created_by="tests")).secret


@asynccontextmanager
async def _session(
    url: str, payload: dict[str, Any], origin: str | None = None, protocol: Subprotocol = PROTOCOL
) -> AsyncIterator[ClientConnection]:
    async with connect(url, subprotocols=[protocol], origin=Origin(origin) if origin else None) as websocket:
        await websocket.send(json.dumps({"type": "connection_init", "payload": payload}))
        yield websocket


async def _connection_outcome(
    url: str, payload: dict[str, Any], origin: str | None = None, protocol: Subprotocol = PROTOCOL
) -> str | int:
    """``connection_ack``, or the close code the server answered ``connection_init`` (or the handshake) with."""
    try:
        async with _session(url, payload, origin, protocol) as websocket:
            return json.loads(await asyncio.wait_for(websocket.recv(), 10))["type"]
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code


def _error_codes(message: dict[str, Any]) -> set[str]:
    """Codes of an ``error`` message (a list of errors; the legacy protocol sends one) or of a result's errors."""
    payload = message.get("payload")
    if message["type"] == "error":
        errors = payload if isinstance(payload, list) else [payload]
    else:
        errors = (payload or {}).get("errors") or []
    return {error.get("extensions", {}).get("code") for error in errors}


async def _first_answers(
    websocket: ClientConnection, operations: dict[str, tuple[str, dict[str, Any]]]
) -> dict[str, set[str]]:
    """Error codes of the first message about each operation, sent together; none for one streaming quietly."""
    protocol = websocket.subprotocol
    assert protocol in START
    for key, (document, variables) in operations.items():
        payload = {"query": document, "variables": variables}
        await websocket.send(json.dumps({"id": key, "type": START[protocol], "payload": payload}))
    answers: dict[str, set[str]] = {}
    deadline = asyncio.get_running_loop().time() + FIRST_MESSAGE_WAIT_S
    while len(answers) < len(operations):
        try:
            message = json.loads(await asyncio.wait_for(websocket.recv(), deadline - asyncio.get_running_loop().time()))
        except TimeoutError:
            break
        if message.get("id") in operations and message["id"] not in answers:
            answers[message["id"]] = _error_codes(message)
    for key in operations:
        await websocket.send(json.dumps({"id": key, "type": STOP[protocol]}))
    return {key: answers.get(key, set()) for key in operations}


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_a_connection_needs_a_valid_token(live_server: str, resources: Resources, protocol: Subprotocol) -> None:
    viewer = await _token(resources, Role.VIEWER)
    revoked = await _token(resources, Role.ADMIN)
    async with transaction(resources.sessions) as session:
        row = await tokens.find_active(session, revoked)
        assert row is not None
        await tokens.revoke(session, row.id)

    def outcome(payload: dict[str, Any]) -> Any:
        return _connection_outcome(live_server, payload, protocol=protocol)

    assert await outcome({}) == 4401
    assert await outcome(_bearer("kw_" + "x" * 43)) == 4401
    assert await outcome({"Authorization": viewer}) == 4401  # no scheme
    assert await outcome(_bearer(revoked)) == 4401
    assert await outcome(_bearer(viewer)) == "connection_ack"
    assert await outcome({"authorization": f"bearer {viewer}"}) == "connection_ack"


async def test_the_legacy_protocol_is_refused_unless_enabled(transport_only_server: str, resources: Resources) -> None:
    viewer = _bearer(await _token(resources, Role.VIEWER))

    refused = await _connection_outcome(transport_only_server, viewer, protocol=LEGACY)

    assert refused == 4406  # Strawberry: "Subprotocol not acceptable"
    assert await _connection_outcome(transport_only_server, viewer) == "connection_ack"


async def _check_subscription_matrix(
    url: str, resources: Resources, protocol: Subprotocol
) -> dict[tuple[str, Role], set[str]]:
    outcomes = {}
    for role in Role:
        async with _session(url, _bearer(await _token(resources, role)), protocol=protocol) as websocket:
            assert json.loads(await websocket.recv())["type"] == "connection_ack"
            probes = {name: probe("subscription", name, field) for name, field in root_fields("Subscription")}
            for name, codes in (await _first_answers(websocket, probes)).items():
                outcomes[(name, role)] = codes
                if allowed("Subscription", name, role):
                    assert not codes & DENIALS and None not in codes, (name, role, codes)
                else:
                    assert codes == {"FORBIDDEN"}, (name, role, codes)
    return outcomes


async def test_every_subscription_answers_each_role_as_the_map_says(
    live_server: str, resources: Resources, protocol: Subprotocol
) -> None:
    outcomes = await _check_subscription_matrix(live_server, resources, protocol)

    assert len(outcomes) == len(Role) * len(root_fields("Subscription"))


async def test_a_subscription_above_the_connection_role_is_forbidden_and_the_connection_stays(
    live_server: str, resources: Resources, monkeypatch: pytest.MonkeyPatch, protocol: Subprotocol
) -> None:
    name, _ = root_fields("Subscription")[0]
    monkeypatch.setitem(auth.REQUIRED_ROLE, f"Subscription.{name}", Role.ADMIN)

    outcomes = await _check_subscription_matrix(live_server, resources, protocol)

    assert outcomes[(name, Role.OPERATOR)] == {"FORBIDDEN"}
    assert not outcomes[(name, Role.ADMIN)] & DENIALS


async def test_a_role_that_can_run_no_subscription_is_refused_with_4403(
    live_server: str, resources: Resources, monkeypatch: pytest.MonkeyPatch, protocol: Subprotocol
) -> None:
    for name, _ in root_fields("Subscription"):
        monkeypatch.setitem(auth.REQUIRED_ROLE, f"Subscription.{name}", Role.OPERATOR)

    viewer = _bearer(await _token(resources, Role.VIEWER))
    operator = _bearer(await _token(resources, Role.OPERATOR))

    assert await _connection_outcome(live_server, viewer, protocol=protocol) == 4403
    assert await _connection_outcome(live_server, operator, protocol=protocol) == "connection_ack"


async def test_a_connection_runs_at_most_50_operations_at_once(
    live_server: str, resources: Resources, protocol: Subprotocol
) -> None:
    subscription = ("subscription { alertRaised { id } }", {})
    async with _session(live_server, _bearer(await _token(resources, Role.VIEWER)), protocol=protocol) as websocket:
        assert json.loads(await websocket.recv())["type"] == "connection_ack"
        answers = await _first_answers(websocket, {f"op{index}": subscription for index in range(51)})

    assert all(answers[f"op{index}"] == set() for index in range(50)), answers  # streaming quietly
    assert answers["op50"] == {None}  # Strawberry's "Subscription limit reached", an error without a code


async def test_queries_and_mutations_sent_over_the_websocket_are_checked_too(
    live_server: str, resources: Resources, protocol: Subprotocol
) -> None:
    mutation = 'mutation { registerMachine(name: "over the socket") { id } }'
    answers = {}
    for role in (Role.VIEWER, Role.OPERATOR):
        async with _session(live_server, _bearer(await _token(resources, role)), protocol=protocol) as websocket:
            assert json.loads(await websocket.recv())["type"] == "connection_ack"
            answers[role] = (await _first_answers(websocket, {"register": (mutation, {})}))["register"]

    if protocol == LEGACY:  # subscriptions only: refused before any check, so nothing is audited
        assert answers == {Role.VIEWER: {"BAD_USER_INPUT"}, Role.OPERATOR: {"BAD_USER_INPUT"}}
        assert await _audited(resources, 0) == []
    else:
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
