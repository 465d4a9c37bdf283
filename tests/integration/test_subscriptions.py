"""Live updates across processes: a real API server, a real worker, Redis pub/sub, websocket clients.

The server accepts both websocket protocols here (``KILOWATCH_LEGACY_GRAPHQL_WS``), so the same stack
checks graphql-transport-ws and the legacy graphql-ws.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from app.config import Settings
from app.constants import ALERTS_CHANNEL
from app.db.engine import transaction
from app.db.migrate import upgrade_to_head
from app.enums import AlertType, ModelType, Severity
from app.runtime.resources import Resources, open_resources
from app.services.alerting import alerts
from app.services.snapshots import snapshot
from tests.faults import free_port, kilowatch_environment, kilowatch_process, until_ready
from tests.seeding import seeded_machine
from tests.support import scratch_postgres_database, scratch_redis
from tests.websocket_client import LEGACY, PROTOCOL, GraphQLSocket

JOB_UPDATES = """subscription($id: UUID) { trainingJobUpdates(jobId: $id) { id status progress progressStep
  modelVersion { version } } }"""
ALERTS = """subscription($since: DateTime, $m: UUID) { alertRaised(since: $since, machineId: $m) {
  id alertType severity message createdAt } }"""
TRIGGER = """mutation($m: UUID!, $t: ModelType!) { triggerRetrain(machineId: $m, modelType: $t) { job { id } } }"""


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """PostgreSQL + Redis + `kilowatch serve` + `kilowatch worker`, each a real process."""
    logs = tmp_path_factory.mktemp("stack")
    async with scratch_postgres_database() as database_url, scratch_redis(database_url) as redis:
        await upgrade_to_head(database_url)
        port = free_port()
        environment = kilowatch_environment(
            database_url,
            {**redis, "KILOWATCH_RATE_LIMIT_RETRAIN_PER_MINUTE": "1000", "KILOWATCH_LEGACY_GRAPHQL_WS": "true"},
        )
        processes = ExitStack()
        for command, arguments in (("serve", ["--port", str(port)]), ("worker", [])):
            processes.enter_context(kilowatch_process([command, *arguments], environment, logs / f"{command}.log"))
        base = f"http://127.0.0.1:{port}"
        with processes:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                await until_ready(client, timeout_s=30, log=logs / "serve.log")
                settings = Settings(
                    database_url=database_url,
                    redis_url=redis["KILOWATCH_REDIS_URL"],
                    redis_prefix=redis["KILOWATCH_REDIS_PREFIX"],
                )
                async with open_resources(settings) as resources:
                    yield {"client": client, "ws": f"ws://127.0.0.1:{port}/graphql", "resources": resources}


async def raise_alert(
    resources: Resources, machine_id: uuid.UUID, alert_type: AlertType, severity: Severity = Severity.WARNING
) -> uuid.UUID:
    """What monitoring does in a worker: store the alert, then publish it."""
    async with transaction(resources.sessions) as session:
        raised = await alerts.raise_alert(
            session,
            machine_id=machine_id,
            model_type=ModelType.BASELINE,
            alert_type=alert_type,
            severity=severity,
            message=f"{alert_type.name}",
        )
    await resources.events.publish(ALERTS_CHANNEL, snapshot(raised.alert))
    return raised.alert.id


async def next_payload(socket: GraphQLSocket, timeout: float = 60) -> dict[str, Any]:
    """The payload of the next result: a ``next`` message, or ``data`` on the legacy protocol."""
    message = await asyncio.wait_for(socket.receive(), timeout)
    assert message["type"] == ("data" if socket.protocol == LEGACY else "next"), message
    return message["payload"]


async def next_data(socket: GraphQLSocket, field: str, timeout: float = 60) -> dict[str, Any]:
    payload = await next_payload(socket, timeout)
    assert payload.get("data") and not payload.get("errors"), payload
    return payload["data"][field]


async def test_a_worker_trained_job_streams_every_step_in_order_then_completes(stack: dict[str, Any]) -> None:
    machine_id = await seeded_machine(stack["resources"], f"press-{uuid.uuid4().hex[:6]}", days=45)
    response = await stack["client"].post(
        "/graphql", json={"query": TRIGGER, "variables": {"m": str(machine_id), "t": "BASELINE"}}
    )
    assert "errors" not in response.json(), response.json()
    job_id = response.json()["data"]["triggerRetrain"]["job"]["id"]

    async def follow(protocol: str) -> list[dict[str, Any]]:
        updates = []
        async with GraphQLSocket(stack["ws"], protocol=protocol) as socket:
            operation = await socket.subscribe(JOB_UPDATES, {"id": job_id})
            while True:
                message = await asyncio.wait_for(socket.receive(), 60)
                if message["type"] == "complete":
                    assert message["id"] == operation
                    return updates
                assert message["type"] == ("data" if protocol == LEGACY else "next"), message
                updates.append(message["payload"]["data"]["trainingJobUpdates"])

    followed = await asyncio.gather(follow(PROTOCOL), follow(LEGACY))

    for updates in followed:
        statuses = [update["status"] for update in updates]
        assert statuses[-1] == "COMPLETED" and updates[-1]["modelVersion"] == {"version": 1}
        assert statuses.count("COMPLETED") == 1 and set(statuses) <= {"PENDING", "RUNNING", "COMPLETED"}
        assert statuses == sorted(statuses, key=["PENDING", "RUNNING", "COMPLETED"].index)
        progress = [update["progress"] for update in updates]
        assert progress == sorted(progress), "progress never goes back"
        steps = [update["progressStep"] for update in updates if update["status"] == "RUNNING"]
        assert {"fit", "validate", "store"} <= set(steps)
    assert followed[0][-1] == followed[1][-1]


async def test_an_alert_from_a_worker_reaches_the_api_process_subscriber(stack: dict[str, Any]) -> None:
    machine_id = await seeded_machine(stack["resources"], f"short-{uuid.uuid4().hex[:6]}", days=3)
    async with GraphQLSocket(stack["ws"]) as socket:
        await socket.subscribe(ALERTS, {"m": str(machine_id)})
        await asyncio.sleep(0.3)  # the subscription is registered server-side
        await stack["client"].post(
            "/graphql", json={"query": TRIGGER, "variables": {"m": str(machine_id), "t": "FORECAST_ARIMA"}}
        )
        alert = await next_data(socket, "alertRaised")  # the worker fails the job: 3 days are too few

    assert alert["alertType"] == "TRAINING_FAILED" and "not enough data" in alert["message"]


async def test_replay_with_since_then_live_without_gap_or_duplicate(stack: dict[str, Any]) -> None:
    resources = stack["resources"]
    machine_id = await seeded_machine(resources, f"replay-{uuid.uuid4().hex[:6]}", days=1)
    disconnected_at = datetime.now(UTC)
    missed = [
        await raise_alert(resources, machine_id, alert_type) for alert_type in (AlertType.DRIFT, AlertType.DEGRADATION)
    ]

    async with GraphQLSocket(stack["ws"]) as socket:
        await socket.subscribe(ALERTS, {"since": disconnected_at.isoformat(), "m": str(machine_id)})
        replayed = [await next_data(socket, "alertRaised") for _ in missed]
        live = await raise_alert(resources, machine_id, AlertType.TRAINING_FAILED)
        escalated = await raise_alert(resources, machine_id, AlertType.DRIFT, Severity.CRITICAL)
        after = [await next_data(socket, "alertRaised") for _ in range(2)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(socket.receive(), 1.0)

    assert [alert["id"] for alert in replayed] == [str(alert_id) for alert_id in missed]
    assert [(alert["id"], alert["severity"]) for alert in after] == [
        (str(live), "WARNING"),
        (str(escalated), "CRITICAL"),
    ]


async def test_subscriptions_survive_the_bus_connection_dropping(stack: dict[str, Any]) -> None:
    resources = stack["resources"]
    machine_id = await seeded_machine(resources, f"blip-{uuid.uuid4().hex[:6]}", days=1)
    settings = resources.settings
    redis = Redis.from_url(settings.redis_url)
    async with GraphQLSocket(stack["ws"]) as socket:
        await socket.subscribe(ALERTS, {"since": datetime.now(UTC).isoformat(), "m": str(machine_id)})
        await asyncio.sleep(0.3)
        for client in await redis.client_list(_type="pubsub"):  # the API's one subscription drops; no one else's
            if client["name"] == settings.redis_name("events"):
                await redis.client_kill_filter(_id=client["id"])
        during = await raise_alert(resources, machine_id, AlertType.DRIFT)  # may be published into the gap
        recovered = await next_data(socket, "alertRaised", timeout=30)
        later = await raise_alert(resources, machine_id, AlertType.DEGRADATION)
        live = await next_data(socket, "alertRaised", timeout=30)
    await redis.aclose()

    assert (recovered["id"], live["id"]) == (str(during), str(later))


async def test_many_subscribers_each_receive_one_event(stack: dict[str, Any]) -> None:
    resources = stack["resources"]
    machine_id = await seeded_machine(resources, f"fan-{uuid.uuid4().hex[:6]}", days=1)
    sockets = [GraphQLSocket(stack["ws"]) for _ in range(500)]
    await asyncio.gather(*(socket.__aenter__() for socket in sockets))
    try:
        await asyncio.gather(*(socket.subscribe(ALERTS, {"m": str(machine_id)}) for socket in sockets))
        await asyncio.sleep(1.0)
        alert_id = await raise_alert(resources, machine_id, AlertType.DRIFT)
        received = await asyncio.gather(*(next_data(socket, "alertRaised", timeout=30) for socket in sockets))
    finally:
        await asyncio.gather(*(socket.__aexit__(None, None, None) for socket in sockets))

    assert {alert["id"] for alert in received} == {str(alert_id)} and len(received) == 500


async def test_one_alert_is_rendered_for_each_operation_and_reaches_both_protocols(stack: dict[str, Any]) -> None:
    """Subscribers of one operation text share a rendering; other selections and filters still get their own."""
    resources = stack["resources"]
    machine_id = await seeded_machine(resources, f"shared-{uuid.uuid4().hex[:6]}", days=1)
    elsewhere = await seeded_machine(resources, f"quiet-{uuid.uuid4().hex[:6]}", days=1)
    brief = "subscription($m: UUID) { alertRaised(machineId: $m) { id severity } }"
    wide = """subscription Wide($m: UUID) { raised: alertRaised(machineId: $m) { ...Facts } }
      fragment Facts on Alert { id alertType createdAt }"""
    subscribers = {
        "first": (PROTOCOL, brief, machine_id),
        "second": (PROTOCOL, brief, machine_id),
        "legacy": (LEGACY, brief, machine_id),
        "wide": (PROTOCOL, wide, machine_id),
        "elsewhere": (PROTOCOL, brief, elsewhere),
    }
    async with AsyncExitStack() as sockets:
        opened = {}
        for name, (protocol, document, machine) in subscribers.items():
            opened[name] = await sockets.enter_async_context(GraphQLSocket(stack["ws"], protocol=protocol))
            await opened[name].subscribe(document, {"m": str(machine)})
        await asyncio.sleep(0.3)
        alert_id = await raise_alert(resources, machine_id, AlertType.DEGRADATION)
        payloads = {name: await next_payload(opened[name], 30) for name in ("first", "second", "legacy", "wide")}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(opened["elsewhere"].receive(), 1.0)

    expected = {"data": {"alertRaised": {"id": str(alert_id), "severity": "WARNING"}}}
    assert payloads["first"] == payloads["second"] == payloads["legacy"] == expected
    assert payloads["wide"]["data"]["raised"]["id"] == str(alert_id)
    assert set(payloads["wide"]["data"]["raised"]) == {"id", "alertType", "createdAt"}
    assert payloads["wide"]["data"]["raised"]["alertType"] == "DEGRADATION"


async def test_since_without_a_utc_offset_is_refused_as_bad_input(stack: dict[str, Any]) -> None:
    async with GraphQLSocket(stack["ws"]) as socket:
        await socket.subscribe(ALERTS, {"since": "2026-01-01T00:00:00"})
        message = await asyncio.wait_for(socket.receive(), 10)

    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT" and "since" in errors[0]["message"]
