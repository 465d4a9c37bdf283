"""A third-party client against a real `kilowatch serve` process with access control on: gql's HTTP
transport and its graphql-transport-ws websocket transport, each loading the schema by introspection
(gql then validates every document against it), running queries and mutations, and following both
subscriptions live."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from graphql import GraphQLSchema

from app.ml.synthetic import DEMO_FLEET, generate_readings
from tests.faults import embedded_server, free_port, until_ready
from tests.support import scratch_postgres_database

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60

REGISTER = gql("mutation($name: String!) { registerMachine(name: $name) { id name } }")
INGEST = gql("mutation($m: UUID!, $r: [ReadingInput!]!) { ingestReadings(machineId: $m, readings: $r) { inserted } }")
TRIGGER = gql("mutation($m: UUID!) { triggerRetrain(machineId: $m, modelType: BASELINE) { triggered job { id } } }")
MACHINES = gql("{ machines { name readingsCount } }")
JOB_UPDATES = gql("subscription($id: UUID) { trainingJobUpdates(jobId: $id) { id status progress } }")
ALERTS = gql(
    "subscription($m: UUID, $since: DateTime) { alertRaised(machineId: $m, since: $since) { alertType message } }"
)


@contextmanager
def serving(database_url: str, log: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A server with access control on; yields its address and the environment that reaches its database."""
    port = free_port()
    environment = {"KILOWATCH_AUTH": "on", "KILOWATCH_LOG_LEVEL": "WARNING"}
    cli = {**os.environ, **environment, "KILOWATCH_DATABASE_URL": database_url}
    cli.pop("KILOWATCH_REDIS_URL", None)
    with embedded_server(database_url, port, log, environment):
        yield f"127.0.0.1:{port}", cli


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    """``(host:port, operator token)`` of a server with access control on."""
    directory = tmp_path_factory.mktemp("gql")
    if request.param == "sqlite":
        with serving(f"sqlite+aiosqlite:///{directory / 'kilowatch.db'}", directory / "serve.log") as running:
            yield await _ready_with_token(*running, directory / "serve.log")
    else:
        async with scratch_postgres_database() as database_url:
            with serving(database_url, directory / "serve.log") as running:
                yield await _ready_with_token(*running, directory / "serve.log")


async def _ready_with_token(address: str, environment: dict[str, str], log: Path) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=f"http://{address}") as probe:
        await until_ready(probe, timeout_s=STARTUP_TIMEOUT_S, log=log)
    created = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "create", "--name", "gql client", "--role", "operator"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return address, created.stdout.strip().splitlines()[-1]


def http_client(address: str, token: str) -> Client:
    transport = HTTPXAsyncTransport(url=f"http://{address}/graphql", headers={"Authorization": f"Bearer {token}"})
    return Client(transport=transport, fetch_schema_from_transport=True)


def websocket_client(address: str, token: str) -> Client:
    transport = WebsocketsTransport(
        url=f"ws://{address}/graphql",
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    return Client(transport=transport, fetch_schema_from_transport=True)


def readings(days: int) -> list[dict[str, Any]]:
    frame = generate_readings(DEMO_FLEET[0], "2026-01-01", days, seed=3)
    return [
        {"timestamp": timestamp.isoformat(), "energyKwh": float(row.energy_kwh)} for timestamp, row in frame.iterrows()
    ]


async def run(session: Any, document: GraphQLRequest, variables: dict[str, Any]) -> dict[str, Any]:
    return await session.execute(GraphQLRequest(document, variable_values=variables))


def has_root_fields(schema: GraphQLSchema | None) -> bool:
    assert schema is not None and schema.query_type is not None and schema.subscription_type is not None
    return {"machines", "trainingJobs"} <= set(schema.query_type.fields) and {
        "trainingJobUpdates",
        "alertRaised",
    } <= set(schema.subscription_type.fields)


async def test_gql_over_http_introspects_queries_and_mutates(server: tuple[str, str]) -> None:
    address, token = server
    async with http_client(address, token) as session:
        machine = (await run(session, REGISTER, {"name": "gql press"}))["registerMachine"]
        ingested = await run(session, INGEST, {"m": machine["id"], "r": readings(3)})
        listed = (await session.execute(MACHINES))["machines"]
        schema = session.client.schema

    assert has_root_fields(schema)
    assert ingested["ingestReadings"]["inserted"] == 72
    assert {"name": "gql press", "readingsCount": 72} in listed


async def test_gql_over_graphql_transport_ws_follows_a_training_job_and_an_alert(server: tuple[str, str]) -> None:
    address, token = server
    async with http_client(address, token) as http, websocket_client(address, token) as socket:
        assert socket.transport.subprotocol == WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # type: ignore[attr-defined]
        trained = (await run(http, REGISTER, {"name": "gql trained"}))["registerMachine"]["id"]
        starved = (await run(http, REGISTER, {"name": "gql starved"}))["registerMachine"]["id"]
        await run(http, INGEST, {"m": trained, "r": readings(30)})
        await run(http, INGEST, {"m": starved, "r": readings(1)})

        before = datetime.now(UTC).isoformat()
        started = (await run(http, TRIGGER, {"m": trained}))["triggerRetrain"]
        await run(http, TRIGGER, {"m": starved})  # fails for want of data: a TRAINING_FAILED alert

        async def statuses() -> list[str]:
            """The job's state when subscribed, then each change up to its terminal state."""
            request = GraphQLRequest(JOB_UPDATES, variable_values={"id": started["job"]["id"]})
            return [update["trainingJobUpdates"]["status"] async for update in socket.subscribe(request)]

        async def first_alert() -> dict[str, Any]:
            """Alerts raised since ``before`` are replayed, then live ones follow: no race with the trigger."""
            request = GraphQLRequest(ALERTS, variable_values={"m": starved, "since": before})
            async for raised in socket.subscribe(request):
                return raised["alertRaised"]
            raise AssertionError("the subscription ended without an alert")

        seen, alert = await asyncio.wait_for(asyncio.gather(statuses(), first_alert()), timeout=120)
        schema = socket.client.schema

    assert has_root_fields(schema)
    assert started["triggered"]
    assert seen[-1] == "COMPLETED" and set(seen) <= {"PENDING", "RUNNING", "COMPLETED"}, seen
    assert alert["alertType"] == "TRAINING_FAILED" and "not enough data" in alert["message"], alert
