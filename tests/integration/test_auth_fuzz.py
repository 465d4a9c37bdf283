"""Generated operations against the live app: nothing internal leaks, and refused mutations write nothing.

hypothesis-graphql writes valid and subtly invalid queries and mutations from the schema itself (one
root field per mutation, so "refused" is unambiguous), sent over HTTP by callers of every role. Each
answer must be below 500, give every error a code other than INTERNAL and carry no stack trace; and a
mutation whose root field was refused must leave every table's row count as it was (the audit log
excepted: refusals are recorded there on purpose).

Hypothesis drives a synchronous test, so the app runs on an event loop of its own here. Operations come
in batches: generating ten at a time costs a third of generating them one by one.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, timedelta, timezone
from typing import Any

import httpx
import sqlalchemy as sa
from graphql import get_named_type
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from app.config import Settings
from app.db.engine import transaction
from app.db.tables import AuditEntry, Base
from app.enums import AlertType, ModelType, Role, Severity
from app.runtime.queue import InlineQueue
from app.runtime.resources import Resources
from app.services.alerting import alerts
from app.services.fleet import machines
from tests.integration.apps import client_as, empty_all_tables, running
from tests.integration.auth_probes import SCHEMA, codes, probe, root_fields
from tests.support import graphql

OPERATIONS_PER_DATABASE = 1_000
BATCH = 10
CALLERS = [Role.ADMIN, Role.ADMIN, Role.ADMIN, Role.OPERATOR, Role.VIEWER, None]
MUTATION_FIELDS = sorted(SCHEMA.mutation_type.fields)  # type: ignore[union-attr]
COUNTED_TABLES = [table for table in Base.metadata.sorted_tables if table.name != AuditEntry.__tablename__]
ROW_COUNTS = sa.select(*(sa.select(sa.func.count()).select_from(table).scalar_subquery() for table in COUNTED_TABLES))
STACK_TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.", "asyncpg.")

OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), None])
DATETIMES = st.builds(lambda moment, zone: moment.replace(tzinfo=zone), st.datetimes(), OFFSETS)
JSON_VALUES = st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(json.dumps)


def operations(known_ids: list[str]) -> st.SearchStrategy[str]:
    """Valid and invalid queries and one-field mutations; ids are random or ones that exist."""
    scalars = {
        "UUID": (st.uuids().map(str) | st.sampled_from(known_ids)).map(nodes.String),
        "DateTime": DATETIMES.map(lambda moment: nodes.String(moment.isoformat())),
        "JSON": JSON_VALUES.map(nodes.String),
    }
    strategies = []
    for mode in (Mode.POSITIVE, Mode.NEGATIVE):
        strategies.append(queries(SCHEMA, custom_scalars=scalars, mode=mode))
        strategies.append(
            st.sampled_from(MUTATION_FIELDS).flatmap(
                lambda name, mode=mode: mutations(SCHEMA, fields=[name], custom_scalars=scalars, mode=mode)
            )
        )
    return st.one_of(strategies)


async def _never_run(_: uuid.UUID) -> None:
    return None


async def seed(resources: Resources) -> list[str]:
    """A machine without readings (so a retrain fails fast instead of training for real) and an open alert."""
    async with transaction(resources.sessions) as session:
        machine = await machines.register(session, "Fuzzed press")
        raised = await alerts.raise_alert(
            session,
            machine_id=machine.id,
            model_type=ModelType.BASELINE,
            alert_type=AlertType.DRIFT,
            severity=Severity.WARNING,
            message="seeded",
        )
    return [str(machine.id), str(raised.alert.id)]


def _refused(answer: dict[str, Any]) -> bool:
    """Refused before or by the root field itself, not by a field nested in what it returned."""
    return any(len(error.get("path") or []) <= 1 for error in answer.get("errors") or [])


def _check(document: str, status: int, answer: dict[str, Any]) -> None:
    assert status < 500, (document, answer)
    for error in answer.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code is not None and code != "INTERNAL", (document, error)
        assert not any(marker in error["message"] for marker in STACK_TRACE_MARKERS), (document, error)


def test_generated_operations_never_fail_internally_and_refused_mutations_write_nothing(database_url: str) -> None:
    sent: list[str] = []
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        stack = AsyncExitStack()
        # No periodic work either: an A/B or monitoring round firing mid-fuzz would write rows of its own.
        quiet = {
            name: 1e9
            for name in ("sweep_interval_s", "monitoring_interval_s", "webhook_interval_s", "ab_test_interval_s")
        }
        app = runner.run(
            stack.enter_async_context(running(Settings(database_url=database_url, retrain_schedule="off", **quiet)))
        )
        resources = app.state.lifespan_state["resources"]
        # Jobs the fuzz triggers are queued but not run: one running in the background would write its
        # failure while a refused mutation's row counts are being compared.
        assert isinstance(resources.queue, InlineQueue)
        resources.queue.bind(_never_run)
        generated = operations(runner.run(seed(resources)))
        callers: dict[Role | None, httpx.AsyncClient] = {
            role: runner.run(stack.enter_async_context(client_as(app, role))) for role in set(CALLERS)
        }

        async def row_counts() -> tuple[int, ...]:
            async with resources.sessions() as session:
                return tuple((await session.execute(ROW_COUNTS)).one())

        async def send(caller: Role | None, document: str) -> None:
            is_mutation = document.lstrip().startswith("mutation")
            before = await row_counts() if is_mutation else ()
            response = await callers[caller].post("/graphql", json={"query": document})
            answer = response.json()
            _check(document, response.status_code, answer)
            if is_mutation and _refused(answer):
                assert await row_counts() == before, (document, answer)
            sent.append(document)

        @settings(
            max_examples=OPERATIONS_PER_DATABASE // BATCH,
            derandomize=True,
            database=None,
            deadline=None,
            # The failing operation and its answer are in the assertion message already; shrinking a batch
            # through a live app takes minutes and would only repeat them.
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        )
        @given(batch=st.lists(st.tuples(st.sampled_from(CALLERS), generated), min_size=BATCH, max_size=BATCH))
        def property(batch: list[tuple[Role | None, str]]) -> None:
            for caller, document in batch:
                runner.run(send(caller, document))

        try:
            property()
        finally:
            runner.run(empty_all_tables(resources))
            runner.run(stack.aclose())

    mutation_count = sum(document.lstrip().startswith("mutation") for document in sent)
    assert len(sent) >= OPERATIONS_PER_DATABASE
    assert len(sent) / 4 < mutation_count < len(sent) * 3 / 4


async def test_every_text_argument_refuses_what_the_database_cannot_store(client: httpx.AsyncClient) -> None:
    """Random text rarely holds NUL, which PostgreSQL refuses in any text column; so each String argument
    of each root field gets it on purpose (with the other arguments minimal, and as an administrator)."""
    slots = [
        (operation, name, field, argument)
        for operation, root in (("query", "Query"), ("mutation", "Mutation"))
        for name, field in root_fields(root)
        for argument, definition in field.args.items()
        if get_named_type(definition.type).name == "String"
    ]
    answers = {}
    for operation, name, field, argument in slots:
        document, variables = probe(operation, name, field, frozenset({argument}))
        answers[(name, argument)] = await graphql(client, document, {**variables, argument: "a\x00b\x07c"})

    assert len(slots) >= 6
    for slot, answer in answers.items():
        assert "INTERNAL" not in codes(answer), (slot, answer)
    assert codes(answers[("registerMachine", "name")]) == {"BAD_USER_INPUT"}
    assert codes(answers[("auditLog", "actor")]) == {"BAD_USER_INPUT"}
