"""Embedded mode: concurrent writers wait for each other instead of failing with ``database is locked``.

SQLite allows one writer at a time; the process serialises its write transactions (``app.db.engine``), so a
dashboard user, an importer and a retraining running at once all succeed. SQLite only: PostgreSQL has
row locks and runs these writes side by side.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.config import Settings
from app.db.engine import writer_turn
from app.db.migrate import upgrade_to_head
from app.db.tables import EnergyReading, TrainingJob
from app.enums import JobStatus, Role
from tests.integration.apps import client_as, running
from tests.support import data_of, graphql

INGEST = """mutation($id: UUID!, $readings: [ReadingInput!]!) {
  ingestReadings(machineId: $id, readings: $readings) { inserted updated } }"""
REGISTER = "mutation($n: String!) { registerMachine(name: $n) { id } }"
TRIGGER = """mutation($m: UUID!, $t: ModelType!) { triggerRetrain(machineId: $m, modelType: $t) { job { id } } }"""
POLICY = """mutation($m: UUID!) { setMonitoringPolicy(input: {machineId: $m, modelType: BASELINE, maxCvRmse: 0.3}) {
  maxCvRmse } }"""
BATCH = 4_800
START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kilowatch.db'}"
    await upgrade_to_head(url)
    settings = Settings(database_url=url, redis_url=None, retrain_schedule="off", rate_limit_retrain_per_minute=1000)
    async with running(settings) as application:
        yield application


def readings(count: int, offset_hours: int = 0) -> list[dict[str, object]]:
    return [
        {
            "timestamp": (START + timedelta(hours=offset_hours + index)).isoformat(),
            "energyKwh": 40.0 + 10 * ((index % 24) in range(7, 19)) + index % 5,
            "productionUnits": float(index % 24),
            "outdoorTempC": 5.0 + index % 10,
        }
        for index in range(count)
    ]


async def test_concurrent_ingests_retrains_and_mutations_all_succeed(app: Starlette) -> None:
    async with client_as(app, Role.ADMIN) as client:
        machines = [
            data_of(await graphql(client, REGISTER, {"n": f"press-{n}"}))["registerMachine"]["id"] for n in range(4)
        ]
        # Two series with history, so retrains have real fits to store while the ingests run.
        for machine_id in machines[:2]:
            data_of(await graphql(client, INGEST, {"id": machine_id, "readings": readings(BATCH)}))

        async def ingest(machine_id: str, offset: int) -> dict[str, object]:
            return await graphql(client, INGEST, {"id": machine_id, "readings": readings(BATCH, offset)})

        calls = [ingest(machine_id, BATCH) for machine_id in machines]
        calls += [graphql(client, TRIGGER, {"m": machine_id, "t": "BASELINE"}) for machine_id in machines[:2]]
        calls += [graphql(client, POLICY, {"m": machine_id}) for machine_id in machines]
        calls += [graphql(client, REGISTER, {"n": f"fan-{n}"}) for n in range(4)]
        answers = await asyncio.gather(*calls)

        for answer in answers:
            data_of(answer)
        job_ids = [uuid.UUID(answer["data"]["triggerRetrain"]["job"]["id"]) for answer in answers[4:6]]
        resources = app.state.lifespan_state["resources"]
        deadline = asyncio.get_running_loop().time() + 120
        while True:
            async with resources.sessions() as session:
                statuses = set(
                    (await session.scalars(sa.select(TrainingJob.status).where(TrainingJob.id.in_(job_ids)))).all()
                )
            if statuses <= {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}:
                break
            assert asyncio.get_running_loop().time() < deadline, statuses
            await asyncio.sleep(0.1)

    assert statuses == {JobStatus.COMPLETED}
    async with resources.sessions() as session:
        stored = await session.scalar(sa.select(sa.func.count()).select_from(EnergyReading))
    assert stored == 2 * 2 * BATCH + 2 * BATCH


async def test_a_mutation_waits_for_its_turn_in_the_process_writer_queue(app: Starlette) -> None:
    """A mutation's write (held open for its audit entry) queues in the process like every other writer.

    The writer turn alone is held here, no SQLite lock: a write that skipped the queue would not wait.
    """
    resources = app.state.lifespan_state["resources"]
    async with client_as(app, Role.ADMIN) as client:
        data_of(await graphql(client, "{ machines { id } }"))  # the token's last-use time is written now, not below
        async with writer_turn(resources.sessions):
            pending = asyncio.ensure_future(graphql(client, REGISTER, {"n": "queued"}))
            await asyncio.sleep(0.5)
            assert not pending.done()
        registered = data_of(await asyncio.wait_for(pending, 30))["registerMachine"]

    assert uuid.UUID(registered["id"])
