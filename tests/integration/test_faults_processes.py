"""`kilowatch serve` killed (SIGKILL) in the middle of ingests: nothing is half-written, and a new process
serves the same database at once. On SQLite and on PostgreSQL.

(A worker killed mid-fit is ``test_workers.test_a_killed_worker_is_noticed_and_the_series_can_train_again``.)
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.db.migrate import upgrade_to_head
from tests.faults import embedded_server, free_port, until_ready
from tests.support import data_of, scratch_postgres_database

REPO = Path(__file__).resolve().parents[2]
BATCH = 5_000
INGEST = """mutation($id: UUID!, $readings: [ReadingInput!]!) { ingestReadings(machineId: $id, readings: $readings) {
  inserted } }"""
REGISTER = "mutation($n: String!) { registerMachine(name: $n) { id } }"
COUNTS = "{ machines { name readingsCount } }"
START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'kilowatch.db'}"
        await upgrade_to_head(url)
        yield url
    else:
        async with scratch_postgres_database() as url:
            await upgrade_to_head(url)
            yield url


def readings(count: int) -> list[dict[str, object]]:
    return [
        {"timestamp": (START + timedelta(hours=index)).isoformat(), "energyKwh": 40.0 + index % 9}
        for index in range(count)
    ]


async def post(client: httpx.AsyncClient, query: str, variables: dict[str, object]) -> dict[str, object]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_server_killed_mid_ingest_leaves_whole_batches_or_none(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    batch = readings(BATCH)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        with embedded_server(database_url, port, tmp_path / "serve.log") as server:
            await until_ready(client)
            timed = data_of(await post(client, REGISTER, {"n": "timed"}))["registerMachine"]["id"]
            began = asyncio.get_running_loop().time()
            data_of(await post(client, INGEST, {"id": timed, "readings": batch}))
            one_ingest_s = asyncio.get_running_loop().time() - began
            registered = [data_of(await post(client, REGISTER, {"n": f"m{n}"})) for n in range(3)]
            machines = [answer["registerMachine"]["id"] for answer in registered]

            sent = [asyncio.create_task(post(client, INGEST, {"id": m, "readings": batch})) for m in machines]
            await asyncio.sleep(one_ingest_s / 2)
            server.send_signal(signal.SIGKILL)
            server.wait()
            answers = await asyncio.gather(*sent, return_exceptions=True)
            assert any(isinstance(answer, httpx.TransportError) for answer in answers), "killed too late"

        with embedded_server(database_url, port, tmp_path / "serve.log"):  # a new process, same database: it just works
            await until_ready(client)
            counts = {row["name"]: row["readingsCount"] for row in data_of(await post(client, COUNTS, {}))["machines"]}
            after = data_of(await post(client, REGISTER, {"n": "after"}))["registerMachine"]["id"]
            stored = data_of(await post(client, INGEST, {"id": after, "readings": batch}))

    assert counts["timed"] == BATCH and set(counts.values()) <= {0, BATCH}, counts  # whole batches or nothing
    assert stored == {"ingestReadings": {"inserted": BATCH}}
