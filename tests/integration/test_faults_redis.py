"""Redis restarted under a real stack: `kilowatch serve`, `kilowatch worker`, a websocket subscriber.

Redis here is a ``redis-server`` of the test's own (``tests.faults.PrivateRedis``), without persistence
like the compose service, so a restart also loses the queue. Nothing is restarted but Redis itself.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.db.migrate import upgrade_to_head
from app.db.tables import TrainingJob
from app.enums import ACTIVE_JOB_STATUSES, JobStatus
from app.runtime.resources import Resources, open_resources
from tests.faults import PrivateRedis, free_port, kilowatch_environment, kilowatch_process, until_ready
from tests.seeding import seeded_machine
from tests.support import data_of, scratch_postgres_database
from tests.websocket_client import GraphQLSocket

KNOBS = {
    "KILOWATCH_JOB_HEARTBEAT_S": "0.5",
    "KILOWATCH_JOB_STALE_AFTER_S": "4",
    "KILOWATCH_SWEEP_INTERVAL_S": "1",
    "KILOWATCH_WORKER_POLL_DELAY_S": "0.05",
    "KILOWATCH_RETRAIN_SCHEDULE": "off",
    "KILOWATCH_RATE_LIMIT_RETRAIN_PER_MINUTE": "1000",
    "KILOWATCH_AUTH": "off",
}
TRIGGER = """mutation($m: UUID!, $t: ModelType!) { triggerRetrain(machineId: $m, modelType: $t) {
  triggered job { id status } } }"""
UPDATES = "subscription { trainingJobUpdates { id status } }"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    await redis.ready()
    async with scratch_postgres_database() as database_url:
        await upgrade_to_head(database_url)
        port = free_port()
        environment = kilowatch_environment(database_url, {**KNOBS, "KILOWATCH_REDIS_URL": redis.url})
        processes: dict[str, subprocess.Popen[bytes]] = {}
        running = ExitStack()
        for command, arguments in (("serve", ["--port", str(port)]), ("worker", [])):
            processes[command] = running.enter_context(
                kilowatch_process([command, *arguments], environment, tmp_path / f"{command}.log")
            )
        try:
            with running:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                    await until_ready(client, log=tmp_path / "serve.log")
                    settings = Settings(database_url=database_url, redis_url=None)
                    async with open_resources(settings) as resources:
                        yield {
                            "client": client,
                            "ws": f"ws://127.0.0.1:{port}/graphql",
                            "resources": resources,
                            "redis": redis,
                            "processes": processes,
                            "logs": tmp_path,
                        }
        finally:
            redis.stop()


async def trigger(client: httpx.AsyncClient, machine_id: uuid.UUID, model_type: str) -> str:
    variables = {"m": str(machine_id), "t": model_type}
    response = await client.post("/graphql", json={"query": TRIGGER, "variables": variables})
    assert response.status_code == 200, response.text
    answer = data_of(response.json())["triggerRetrain"]
    assert answer["triggered"], answer
    return str(answer["job"]["id"])


async def statuses(resources: Resources, job_ids: list[str]) -> dict[str, JobStatus]:
    async with resources.sessions() as session:
        jobs = [await session.get(TrainingJob, uuid.UUID(job_id)) for job_id in job_ids]
    return {str(job.id): job.status for job in jobs if job is not None}


async def test_a_redis_restart_loses_nothing_and_needs_no_other_restart(stack: dict[str, Any]) -> None:
    client, resources, redis = stack["client"], stack["resources"], stack["redis"]
    long_fit = await seeded_machine(resources, "chiller", days=365)
    queued, during = [await seeded_machine(resources, name, days=60) for name in ("press", "oven")]
    updates: list[dict[str, Any]] = []

    async with GraphQLSocket(stack["ws"]) as socket:
        await socket.subscribe(UPDATES)

        async def listen() -> None:
            while True:
                message = await socket.receive()
                if message["type"] == "next":
                    updates.append(message["payload"]["data"]["trainingJobUpdates"])

        listening = asyncio.create_task(listen())
        running = await trigger(client, long_fit, "FORECAST_PROPHET")
        while (await statuses(resources, [running]))[running] != JobStatus.RUNNING:
            await asyncio.sleep(0.05)
        pending = await trigger(client, queued, "BASELINE")  # waits in Redis behind the running fit

        redis.stop()  # the queue, the pub/sub connections and the worker's poll loop all go
        await asyncio.sleep(1.0)
        triggered_while_down = await trigger(client, during, "BASELINE")  # recorded; enqueued later
        machines = await client.post("/graphql", json={"query": "{ machines { name } }"})
        assert len(data_of(machines.json())["machines"]) == 3
        await asyncio.sleep(3.0)  # longer than the per-command retries ride out: the poll loops end
        redis.start()
        await redis.ready()

        jobs = [running, pending, triggered_while_down]
        deadline = asyncio.get_running_loop().time() + 180
        while set((current := await statuses(resources, jobs)).values()) & set(ACTIVE_JOB_STATUSES):
            assert asyncio.get_running_loop().time() < deadline, current
            await asyncio.sleep(0.2)
        # The subscriber stayed connected through the restart and hears about jobs finished after it.
        while {update["id"] for update in updates if update["status"] == "COMPLETED"} < {pending, triggered_while_down}:
            assert asyncio.get_running_loop().time() < deadline, updates
            await asyncio.sleep(0.1)
        listening.cancel()

    assert current == dict.fromkeys(jobs, JobStatus.COMPLETED), current
    assert all(process.poll() is None for process in stack["processes"].values()), "a process exited"
    assert "running it again" in (stack["logs"] / "worker.log").read_text()
