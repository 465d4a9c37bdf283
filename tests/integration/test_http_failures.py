"""Whatever fails around an operation, the answer is GraphQL-shaped JSON with an ``extensions.code``.

Each case is what a client, a proxy or an outage actually sends or causes: no plain-text page, no
traceback for a client that went away, and an unreachable database is a 503 to retry, not a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.http.web import create_app
from tests.integration.apps import asgi_client, running
from tests.support import graphql

#: Nothing listens on port 1: connecting is refused at once, as during a database outage.
UNREACHABLE_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:1/kilowatch"


def _code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    return str(error["extensions"]["code"])


@pytest.mark.parametrize(
    ("request_arguments", "status"),
    [
        (
            {"method": "GET", "url": "/graphql", "params": {"query": 'mutation { registerMachine(name: "x") { id } }'}},
            400,
        ),
        (
            {
                "method": "POST",
                "url": "/graphql",
                "content": b'{"query": ',
                "headers": {"content-type": "application/json"},
            },
            400,
        ),
        (
            {
                "method": "POST",
                "url": "/graphql",
                "content": b'{"query": "{ __typename }", "x": "\xff\xfe"}',
                "headers": {"content-type": "application/json"},
            },
            400,
        ),
        ({"method": "POST", "url": "/graphql", "content": b"x", "headers": {"content-type": "text/plain"}}, 400),
        ({"method": "PUT", "url": "/graphql"}, 405),
    ],
    ids=["mutation-over-get", "broken-json", "invalid-utf8", "unsupported-type", "put"],
)
async def test_refused_requests_answer_graphql_shaped_json(
    client: httpx.AsyncClient, request_arguments: dict[str, Any], status: int
) -> None:
    response = await client.request(**request_arguments)

    assert response.status_code == status
    assert _code(response) == "BAD_USER_INPUT"


async def test_a_body_over_the_limit_is_refused_before_it_is_read(settings: Settings) -> None:
    received: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            received.append(1)
            yield b" " * 1_000

    async with running(settings.model_copy(update={"max_body_bytes": 10_000})) as app, asgi_client(app) as http:
        declared = await http.post("/graphql", content=b" " * 10_001, headers={"content-type": "application/json"})
        streamed = await http.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
        within = await http.post("/graphql", json={"query": "{ __typename }"})

    assert declared.status_code == streamed.status_code == 413
    assert _code(declared) == _code(streamed) == "BAD_USER_INPUT"
    assert "10,000 bytes (KILOWATCH_MAX_BODY_BYTES)" in declared.json()["errors"][0]["message"]
    assert len(received) <= 12  # refused as soon as the count passed the limit, not after all 100 chunks
    assert within.status_code == 200


def test_the_default_body_limit_holds_a_full_ingest_batch() -> None:
    settings = Settings()
    reading = {
        "timestamp": "2026-01-01T00:00:00.123456+00:00",
        "energyKwh": -1.2345678901234567e-300,
        "productionUnits": -1.2345678901234567e-300,
        "outdoorTempC": -1.2345678901234567e-300,
        "isAnomaly": False,
    }
    variables = {"machineId": "2a2e8037-9b57-4bb1-a4d9-f9d9be12ca3a", "readings": [reading] * settings.max_ingest_batch}
    body = json.dumps(
        {"query": "mutation($machineId: UUID!, $readings: [ReadingInput!]!) { x }", "variables": variables}
    )

    assert len(body.encode()) < settings.max_body_bytes


async def test_timestamps_beyond_the_supported_range_are_bad_user_input(client: httpx.AsyncClient) -> None:
    machine = await graphql(client, 'mutation { registerMachine(name: "Edge of time") { id } }')
    machine_id = machine["data"]["registerMachine"]["id"]
    ingest = (
        "mutation($m: UUID!, $t: DateTime!) { ingestReadings(machineId: $m, readings: [{timestamp: $t, energyKwh: 1}])"
        " { inserted } }"
    )
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"):
        answer = await graphql(client, ingest, {"m": machine_id, "t": moment})

        assert answer["data"] is None
        assert [error["extensions"]["code"] for error in answer["errors"]] == ["BAD_USER_INPUT"]
        assert "outside the supported range" in answer["errors"][0]["message"]
    stats = await graphql(client, "query($id: UUID!) { machine(id: $id) { readingsCount } }", {"id": machine_id})
    assert stats["data"]["machine"]["readingsCount"] == 0


async def test_an_unreachable_database_is_a_503_to_retry() -> None:
    settings = Settings(database_url=UNREACHABLE_DATABASE, retrain_schedule="off")
    async with running(settings) as app, asgi_client(app, {"Authorization": "Bearer kw_anything"}) as http:
        looked_up = await http.post("/graphql", json={"query": "{ machines { id } }"})
    async with running(settings.model_copy(update={"auth": "off"})) as app, asgi_client(app) as http:
        resolved = await http.post("/graphql", json={"query": "{ machines { id } }"})

    assert looked_up.status_code == 503
    assert looked_up.headers["retry-after"] == "5"
    assert _code(looked_up) == "SERVICE_UNAVAILABLE"
    assert looked_up.json()["errors"][0]["extensions"]["retryAfter"] == 5
    # Past authentication, the resolver's failure is an error of the GraphQL result, with the same code.
    assert resolved.status_code == 200
    assert [error["extensions"]["code"] for error in resolved.json()["errors"]] == ["SERVICE_UNAVAILABLE"]


async def test_a_client_gone_before_its_body_arrived_is_one_log_line(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("test", 1),
        "root_path": "",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with app.router.lifespan_context(app) as state:
        with caplog.at_level(logging.INFO):
            await app({**scope, "state": dict(state)}, receive, send)

    assert sent == []
    lines = [record for record in caplog.records if "disconnect" in record.getMessage()]
    assert len(lines) == 1
    assert lines[0].exc_info is None
    assert not any(record.exc_info for record in caplog.records)
