"""Every mutation of an authenticated caller leaves an audit entry: who, what, on which ids, how it ended."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

from app.db.tables import AuditEntry
from app.runtime.resources import Resources
from app.services.access import audit
from tests.support import data_of, error_of, graphql

REGISTER = 'mutation { registerMachine(name: "Audited press") { id } }'
RECORD = "mutation($m: UUID!) { recordMetrics(input: {machineId: $m, modelType: BASELINE, sampleCount: 3}) { id } }"


async def _entries(resources: Resources) -> list[AuditEntry]:
    async with resources.sessions() as session:
        return list((await session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))).all())


async def test_a_successful_and_a_failing_mutation_are_both_recorded(
    operator_client: httpx.AsyncClient, resources: Resources
) -> None:
    machine_id = data_of(await graphql(operator_client, REGISTER))["registerMachine"]["id"]
    missing = str(uuid.uuid4())
    error_of(
        await graphql(operator_client, "mutation($id: UUID!) { acknowledgeAlert(id: $id) { id } }", {"id": missing}),
        "NOT_FOUND",
    )

    created, failed = await _entries(resources)

    assert (created.actor, created.operation, created.outcome) == ("test-operator", "registerMachine", "ok")
    assert created.target_ids == [machine_id]
    assert (failed.actor, failed.operation, failed.outcome) == ("test-operator", "acknowledgeAlert", "NOT_FOUND")
    assert failed.target_ids == [missing]
    assert created.details["tokenId"] == failed.details["tokenId"]
    assert created.at <= failed.at


async def test_refused_and_invalid_mutations_are_recorded_with_their_code(
    viewer_client: httpx.AsyncClient, resources: Resources
) -> None:
    machine_id = str(uuid.uuid4())
    policy = "mutation($m: UUID!) { setMonitoringPolicy(input: {machineId: $m, modelType: BASELINE}) { maxCvRmse } }"
    error_of(await graphql(viewer_client, policy, {"m": machine_id}), "FORBIDDEN")
    error_of(await graphql(viewer_client, "mutation { registerMachine { id } }"), "BAD_USER_INPUT")

    forbidden, invalid = await _entries(resources)

    assert (forbidden.operation, forbidden.outcome, forbidden.target_ids) == (
        "setMonitoringPolicy",
        "FORBIDDEN",
        [machine_id],
    )
    assert (invalid.operation, invalid.outcome, invalid.target_ids) == ("registerMachine", "BAD_USER_INPUT", [])


async def test_each_root_field_gets_its_own_entry_with_ids_from_nested_inputs(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    machine_id, version_a, version_b = (str(uuid.uuid4()) for _ in range(3))
    readings = [{"timestamp": f"2026-01-01T{hour:02d}:00:00Z", "energyKwh": 1.0} for hour in range(24)]
    result = await graphql(
        client,
        "mutation($m: UUID!, $r: [ReadingInput!]!, $a: UUID!) {"
        ' named: registerMachine(name: "Second press") { id }'
        " ingestReadings(machineId: $m, readings: $r) { inserted }"
        f' startAbTest(input: {{modelAId: $a, modelBId: "{version_b}"}}) {{ id }} }}',
        {"m": machine_id, "r": readings, "a": version_a},
    )

    after_failure = await _entries(resources)
    await graphql(
        client,
        f'mutation($a: UUID!) {{ startAbTest(input: {{modelAId: $a, modelBId: "{version_b}"}}) {{ id }} }}',
        {"a": version_a},
    )
    register, ingest, ab_test = await _entries(resources)

    assert result["data"] is None  # a non-null root field failed, so the ones after it never ran
    assert len(after_failure) == 2
    assert (register.operation, register.outcome) == ("registerMachine", "ok")
    assert (ingest.operation, ingest.outcome, ingest.target_ids) == ("ingestReadings", "NOT_FOUND", [machine_id])
    assert ab_test.operation == "startAbTest" and ab_test.outcome != "ok"
    assert ab_test.target_ids == [version_a, version_b]


async def test_created_tokens_never_reach_the_log(client: httpx.AsyncClient, resources: Resources) -> None:
    created = data_of(await graphql(client, 'mutation { createApiToken(name: "ci", role: OPERATOR) { id token } }'))[
        "createApiToken"
    ]
    fragment = 'fragment T on Mutation { createApiToken(name: "also ci", role: VIEWER) { id name role token } }'
    data_of(await graphql(client, f"mutation {{ ...T }} {fragment}"))

    entries = await _entries(resources)
    stored = json.dumps(
        [[entry.actor, entry.operation, entry.target_ids, entry.outcome, entry.details] for entry in entries]
    )

    assert [entry.operation for entry in entries] == ["createApiToken", "createApiToken"]
    assert entries[0].target_ids == [created["id"]]
    assert created["token"] not in stored and "kw_" not in stored


async def test_reads_and_unauthenticated_attempts_write_nothing(
    client: httpx.AsyncClient, anonymous_client: httpx.AsyncClient, resources: Resources
) -> None:
    data_of(await graphql(client, "{ machines { id } }"))
    error_of(await graphql(anonymous_client, REGISTER), "UNAUTHENTICATED")

    assert await _entries(resources) == []


async def test_administrators_read_the_log_filtered_by_operation_and_actor(
    client: httpx.AsyncClient, operator_client: httpx.AsyncClient, viewer_client: httpx.AsyncClient
) -> None:
    data_of(await graphql(operator_client, REGISTER))
    error_of(await graphql(client, REGISTER), "CONFLICT")
    log = "query($o: String, $a: String) { auditLog(operation: $o, actor: $a) { actor operation outcome targetIds } }"

    everything = data_of(await graphql(client, log))["auditLog"]
    by_operator = data_of(await graphql(client, log, {"o": "registerMachine", "a": "test-operator"}))["auditLog"]
    none = data_of(await graphql(client, log, {"o": "predict"}))["auditLog"]

    assert [(entry["actor"], entry["outcome"]) for entry in everything] == [
        ("test-admin", "CONFLICT"),
        ("test-operator", "ok"),
    ]
    assert len(by_operator) == 1 and by_operator[0]["targetIds"] and none == []
    error_of(await graphql(viewer_client, log), "FORBIDDEN")
    error_of(await graphql(operator_client, log), "FORBIDDEN")


async def test_a_failed_audit_write_rolls_the_mutation_back_and_is_logged(
    client: httpx.AsyncClient, resources: Resources, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: Any) -> None:
        raise RuntimeError("audit storage broken")

    machine_id = data_of(await graphql(client, REGISTER))["registerMachine"]["id"]
    monkeypatch.setattr(audit, "record", broken)
    with caplog.at_level(logging.ERROR, logger="kilowatch.audit"):
        result = await graphql(client, RECORD, {"m": machine_id})

    error_of(result, "INTERNAL")  # no change without its entry
    latest = "query($m: UUID!) { latestPerformance(machineId: $m) { id } }"
    assert data_of(await graphql(client, latest, {"m": machine_id}))["latestPerformance"] == []
    assert "could not write the audit log entries of recordMetrics" in caplog.text


@contextmanager
def statements_of(resources: Resources) -> Iterator[dict[str, int]]:
    """Statements sent, and transactions committed, through the process's engine while the block runs."""
    seen = {"statements": 0, "commits": 0}

    def statement(_connection: Any, _cursor: Any, text: str, *_: Any) -> None:
        seen["statements"] += "api_tokens" not in text  # a token lookup depends on the cache's age, not the call

    def commit(_connection: Any) -> None:
        seen["commits"] += 1

    engine = resources.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", statement)
    sa.event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", statement)
        sa.event.remove(engine, "commit", commit)


@contextmanager
def round_trips_to_postgresql(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What the asyncpg driver sent while the block ran, one item per round trip to the server.

    Counted where SQLAlchemy's asyncpg adapter calls the driver: a BEGIN when a transaction starts
    (none on autocommit connections), each statement (their prepared forms are cached per
    connection once used), a COMMIT or ROLLBACK only when a transaction was started. Token lookups
    are left out: whether one runs depends on the age of the token cache, not on the call.
    """
    sent: list[str] = []
    adapter = asyncpg_dialect.AsyncAdapt_asyncpg_connection
    cursor = asyncpg_dialect.AsyncAdapt_asyncpg_cursor
    start, commit, rollback = adapter._start_transaction, adapter.commit, adapter.rollback
    execute = cursor._prepare_and_execute

    async def counted_start(self: Any) -> None:
        if self.isolation_level != "autocommit":
            sent.append("BEGIN")
        await start(self)

    def counted(name: str, method: Any) -> Any:
        def run(self: Any) -> None:
            if self._transaction is not None:
                sent.append(name)
            method(self)

        return run

    async def counted_execute(self: Any, operation: str, parameters: Any) -> None:
        try:
            await execute(self, operation, parameters)  # it begins the transaction first, where one is due
        finally:
            if "api_tokens" not in operation:
                sent.append(operation.split(None, 1)[0].upper())

    monkeypatch.setattr(adapter, "_start_transaction", counted_start)
    monkeypatch.setattr(adapter, "commit", counted("COMMIT", commit))
    monkeypatch.setattr(adapter, "rollback", counted("ROLLBACK", rollback))
    monkeypatch.setattr(cursor, "_prepare_and_execute", counted_execute)
    yield sent


async def test_a_mutation_and_its_entry_commit_together_in_one_transaction(
    operator_client: httpx.AsyncClient, resources: Resources
) -> None:
    machine_id = data_of(await graphql(operator_client, REGISTER))["registerMachine"]["id"]

    with statements_of(resources) as seen:
        recorded = data_of(await graphql(operator_client, RECORD, {"m": machine_id}))["recordMetrics"]

    assert seen == {"statements": 2, "commits": 1}  # the evaluation's INSERT and its entry's, one commit
    entry = (await _entries(resources))[-1]
    assert (entry.operation, entry.outcome, entry.target_ids) == ("recordMetrics", "ok", [machine_id, recorded["id"]])


async def test_a_failed_mutation_costs_its_read_and_one_entry(
    operator_client: httpx.AsyncClient, resources: Resources
) -> None:
    data_of(await graphql(operator_client, REGISTER))
    missing = str(uuid.uuid4())

    with statements_of(resources) as seen:
        error_of(
            await graphql(
                operator_client, "mutation($id: UUID!) { acknowledgeAlert(id: $id) { id } }", {"id": missing}
            ),
            "NOT_FOUND",
        )

    assert seen["statements"] == 2  # the alert's lookup, then the entry in a statement of its own
    entry = (await _entries(resources))[-1]
    assert (entry.operation, entry.outcome, entry.target_ids) == ("acknowledgeAlert", "NOT_FOUND", [missing])


async def test_round_trips_of_a_read_a_write_and_a_failed_write(
    operator_client: httpx.AsyncClient, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    if resources.engine.dialect.name != "postgresql":
        pytest.skip("round trips to a server: SQLite has none")
    machine_id = data_of(await graphql(operator_client, REGISTER))["registerMachine"]["id"]
    read = "query($m: UUID!) { machine(id: $m) { id name } }"
    acknowledge = "mutation($id: UUID!) { acknowledgeAlert(id: $id) { id } }"
    calls = [(read, {"m": machine_id}, None), (RECORD, {"m": machine_id}, None)]
    calls.append((acknowledge, {"id": str(uuid.uuid4())}, "NOT_FOUND"))
    for query, variables, _ in calls:  # once first, so that every statement is prepared on the connection
        await graphql(operator_client, query, variables)

    counted = []
    with round_trips_to_postgresql(monkeypatch) as sent:
        for query, variables, code in calls:
            sent.clear()
            answer = await graphql(operator_client, query, variables)
            error_of(answer, code) if code else data_of(answer)
            counted.append(list(sent))

    assert counted == [
        ["SELECT"],  # autocommit: no BEGIN, no COMMIT
        ["BEGIN", "INSERT", "INSERT", "COMMIT"],  # the evaluation and its entry, one transaction
        ["BEGIN", "SELECT", "ROLLBACK", "INSERT"],  # the lookup, then the entry on its own (autocommit)
    ]


async def test_skipped_fields_leave_no_entry_and_a_repeated_fragment_leaves_one(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    result = await graphql(
        client,
        'mutation { skipped: registerMachine(name: "never") @skip(if: true) { id } ...Once ...Once }'
        ' fragment Once on Mutation { once: registerMachine(name: "once") { id } }',
    )

    (entry,) = await _entries(resources)

    assert entry.outcome == "ok" and entry.target_ids == [data_of(result)["once"]["id"]]
