"""Generated queries from the exported schema, with ids that exist, never fail internally or with a 5xx.

hypothesis-graphql builds valid and subtly invalid queries from ``schema.graphql`` (the file clients
read, not the in-process schema), with every ``UUID`` argument drawn from the seeded machines, model
versions, training jobs and alerts (or random ones), so resolvers run on real rows and nested fields,
not only on "not found". Each answer must be below 500 and carry no INTERNAL error; every error has a
code. Mutations are fuzzed, per role, by ``test_auth_fuzz``.

No coroutine may be left unawaited either (pytest fails a test on that warning): an error that nulls
a parent once left its siblings' coroutines unstarted (``graphql_schema/engine/execution.py``);
``test_errors_that_null_nested_fields_leave_no_coroutine_unawaited`` sends such documents on purpose.

Bounded: ``OPERATIONS`` per database, and generation stops once ``BUDGET_S`` has passed (each batch
of ten is checked in full), so a slow machine runs fewer operations instead of a longer test.
"""

from __future__ import annotations

import asyncio
import gc
import time
from contextlib import AsyncExitStack
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from graphql import build_schema
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, nodes, queries

from app.config import Settings
from app.db.engine import transaction
from app.enums import AlertType, ModelType, Role, Severity
from app.runtime.resources import Resources
from app.services.alerting import alerts
from tests.integration.apps import client_as, empty_all_tables, running
from tests.integration.test_training import trigger, wait_for_terminal
from tests.seeding import seeded_machine

EXPORTED = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text())
OPERATIONS = 1_500
BATCH = 10
BUDGET_S = 45.0
OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
DATETIMES = st.builds(lambda moment, zone: moment.replace(tzinfo=zone), st.datetimes(), OFFSETS)


async def admin_app(stack: AsyncExitStack, database_url: str) -> tuple[Resources, httpx.AsyncClient]:
    """The application running on ``database_url`` and an administrator's client of it, closed with ``stack``."""
    app = await stack.enter_async_context(running(Settings(database_url=database_url, retrain_schedule="off")))
    client = await stack.enter_async_context(client_as(app, Role.ADMIN))
    return app.state.lifespan_state["resources"], client


async def seed(resources: Resources, client: httpx.AsyncClient) -> list[str]:
    """Two machines with readings, a trained baseline (a version and a job) on one, an alert on each."""
    ids: list[str] = []
    for index, name in enumerate(("Fuzz press", "Fuzz oven")):
        machine_id = await seeded_machine(resources, name, days=30, profile_index=index, seed=index + 1)
        ids.append(str(machine_id))
        async with transaction(resources.sessions) as session:
            raised = await alerts.raise_alert(
                session,
                machine_id=machine_id,
                model_type=ModelType.BASELINE,
                alert_type=AlertType.DRIFT,
                severity=Severity.WARNING,
                message="seeded",
            )
        ids.append(str(raised.alert.id))
    job = await wait_for_terminal(client, (await trigger(client, ids[0]))["job"]["id"])
    assert job["status"] == "COMPLETED", job
    return [*ids, job["id"], job["modelVersion"]["id"]]


def generated(known_ids: list[str]) -> st.SearchStrategy[str]:
    scalars = {
        "UUID": (st.sampled_from(known_ids) | st.uuids().map(str)).map(nodes.String),
        "DateTime": DATETIMES.map(lambda moment: nodes.String(moment.isoformat())),
    }
    return st.one_of(queries(EXPORTED, custom_scalars=scalars, mode=mode) for mode in (Mode.POSITIVE, Mode.NEGATIVE))


def _check(document: str, status: int, answer: dict[str, Any]) -> None:
    assert status < 500, (document, answer)
    for error in answer.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code is not None and code != "INTERNAL", (document, error)


def test_generated_queries_with_real_ids_never_fail_internally(database_url: str) -> None:
    sent: list[str] = []
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        stack = AsyncExitStack()
        resources, client = runner.run(admin_app(stack, database_url))
        documents = generated(runner.run(seed(resources, client)))
        deadline = time.monotonic() + BUDGET_S

        async def send(document: str) -> None:
            response = await client.post("/graphql", json={"query": document})
            _check(document, response.status_code, response.json())
            sent.append(document)

        @settings(
            max_examples=OPERATIONS // BATCH,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        )
        @given(batch=st.lists(documents, min_size=BATCH, max_size=BATCH))
        def property(batch: list[str]) -> None:
            if time.monotonic() > deadline:
                return
            for document in batch:
                runner.run(send(document))

        try:
            property()
        finally:
            runner.run(empty_all_tables(resources))
            runner.run(stack.aclose())

    assert len(sent) >= 100, len(sent)  # a loaded machine covers fewer, but never a token few


#: Errors that null a nested list item or the whole answer while sibling fields are still loading:
#: before siblings were left to finish, each such answer dropped unstarted coroutines (8-28 in ten).
NULLING = [
    "{ machines { id models { versions { id } openAlerts { id } trainingJobs(limit: 0) { id } } } }",
    """query($m: UUID!) { machine(id: $m) { models { latestPerformance { source } activeAbTest { status } } }
      abTest(id: "fa2dedce-e7e8-0755-5588-66c47bde193e") { startedBy }
      savings(machineId: "2323de9f-962b-48ed-a6f4-e71e7793616f", confidence: 0.9) { observedKwh } }""",
]


def test_errors_that_null_nested_fields_leave_no_coroutine_unawaited(database_url: str) -> None:
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        stack = AsyncExitStack()
        resources, client = runner.run(admin_app(stack, database_url))

        async def send_all(machine_id: str) -> None:
            for _ in range(10):
                for document in NULLING:
                    answer = await client.post("/graphql", json={"query": document, "variables": {"m": machine_id}})
                    assert answer.json()["data"] is None, answer.text
                    await asyncio.sleep(0.01)
                    gc.collect()  # an unawaited coroutine is reported, and fails this test, when collected

        try:
            machine_id = runner.run(seeded_machine(resources, "Nulled press", days=3, profile_index=0, seed=3))
            runner.run(send_all(str(machine_id)))
        finally:
            runner.run(empty_all_tables(resources))
            runner.run(stack.aclose())
