"""A live event is rendered once per operation text, whoever subscribed (``graphql_schema.engine.live``).

The deliveries here send into lists instead of sockets; the websocket path end to end is in
``test_subscriptions.py``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette

from app.constants import ALERTS_CHANNEL, JOBS_CHANNEL
from app.db import tables
from app.enums import AlertStatus, AlertType, JobStatus, ModelType, Severity, TriggerType
from app.runtime.events import Event
from graphql_schema.engine.context import Context
from graphql_schema.engine.errors import INTERNAL_MESSAGE
from graphql_schema.engine.live import LiveDelivery
from graphql_schema.schema import build_schema
from graphql_schema.types.alerts import Alert
from graphql_schema.types.jobs import TrainingJob

SCHEMA = build_schema()
BRIEF = "subscription($m: UUID) { alertRaised(machineId: $m) { id severity } }"
WIDE = "subscription { alertRaised { id message } }"
JOB = "subscription { trainingJobUpdates { id status modelVersion { version } } }"


def context_of(app: Starlette) -> Context:
    state = app.state.lifespan_state
    return Context(resources=state["resources"], rate_limiter=state["rate_limiter"])


class Sink:
    """Deliveries whose frames are collected: (subscriber, frame) in the order they were sent."""

    def __init__(self, app: Starlette) -> None:
        self.context = context_of(app)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def delivery(self, name: str, query: str, variables: dict[str, object] | None = None) -> LiveDelivery:
        async def send_text(text: str) -> None:
            self.sent.append((name, json.loads(text)))

        return LiveDelivery(SCHEMA, self.context, query, variables, None, lambda payload: payload, send_text)


def counted(value: object) -> tuple[Callable[[], object], list[int]]:
    """A root-value factory, and how often deliveries called it: once per rendering."""
    calls = [0]

    def build() -> object:
        calls[0] += 1
        return value

    return build, calls


def alert(severity: Severity = Severity.WARNING) -> Alert:
    now = datetime.now(UTC)
    row = tables.Alert(
        id=uuid.uuid4(),
        machine_id=uuid.uuid4(),
        model_type=ModelType.BASELINE,
        alert_type=AlertType.DRIFT,
        severity=severity,
        status=AlertStatus.OPEN,
        message="drift",
        details={},
        occurrences=1,
        created_at=now,
        last_seen_at=now,
    )
    return Alert.from_row(row)


async def test_subscribers_of_one_operation_share_one_rendering_per_event(app: Starlette) -> None:
    sink = Sink(app)
    machine = str(uuid.uuid4())
    deliveries = [
        sink.delivery("first", BRIEF, {"m": machine}),
        sink.delivery("second", BRIEF, {"m": machine}),
        sink.delivery("any machine", BRIEF, {"m": None}),
        sink.delivery("wide", WIDE),
    ]
    renders = []
    for value in (alert(), alert()):
        build, calls = counted(value)
        event = Event(ALERTS_CHANNEL, {})
        for delivery in deliveries:
            await delivery.send(event, build)
        renders.append(calls[0])

    assert renders == [3, 3]  # per event: once for the two alike, once each for other variables and text
    payloads = dict(sink.sent[-4:])
    assert payloads["first"] == payloads["second"] == payloads["any machine"]
    assert payloads["first"] == {"data": {"alertRaised": {"id": str(value.id), "severity": "WARNING"}}}
    assert payloads["wide"] == {"data": {"alertRaised": {"id": str(value.id), "message": "drift"}}}


async def test_a_rendering_that_awaits_the_database_is_shared_by_those_arriving_meanwhile(app: Starlette) -> None:
    sink = Sink(app)
    row = tables.TrainingJob(
        id=uuid.uuid4(),
        machine_id=uuid.uuid4(),
        model_type=ModelType.BASELINE,
        trigger_type=TriggerType.MANUAL,
        status=JobStatus.COMPLETED,
        progress=1.0,
        model_version_id=uuid.uuid4(),  # none such: the loader reads the database and finds nothing
        created_at=datetime.now(UTC),
    )
    build, calls = counted(TrainingJob.from_row(row))
    event = Event(JOBS_CHANNEL, {})

    await asyncio.gather(*(sink.delivery(f"s{index}", JOB).send(event, build) for index in range(5)))

    assert calls[0] == 1
    expected = {"data": {"trainingJobUpdates": {"id": str(row.id), "status": "COMPLETED", "modelVersion": None}}}
    assert [payload for _, payload in sink.sent] == [expected] * 5


async def test_errors_of_a_rendering_carry_codes_like_every_other_result(app: Starlette) -> None:
    sink = Sink(app)

    await sink.delivery("broken", WIDE).send(Event(ALERTS_CHANNEL, {}), object)  # no field resolves on it

    [(_, payload)] = sink.sent
    assert payload["data"] is None
    assert [(error["message"], error["extensions"]["code"]) for error in payload["errors"]] == [
        (INTERNAL_MESSAGE, "INTERNAL")
    ]
