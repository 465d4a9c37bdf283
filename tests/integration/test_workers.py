"""Production mode: real PostgreSQL, real Redis (a key prefix of its own) and real `kilowatch worker` processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from app.config import Settings
from app.constants import JOBS_CHANNEL
from app.db.migrate import upgrade_to_head
from app.db.tables import Alert, ModelVersion, TrainingJob
from app.http.web import create_app
from app.runtime.resources import Resources
from tests.seeding import seeded_machine
from tests.support import data_of, forget_redis_keys, graphql, scratch_postgres_database, scratch_redis

REPO = Path(__file__).resolve().parents[2]
#: Short knobs so lost workers are noticed within seconds.
KNOBS = {
    "KILOWATCH_JOB_HEARTBEAT_S": "0.5",
    "KILOWATCH_JOB_STALE_AFTER_S": "3",
    "KILOWATCH_SWEEP_INTERVAL_S": "1",
    "KILOWATCH_WORKER_POLL_DELAY_S": "0.05",
    "KILOWATCH_RETRAIN_SCHEDULE": "off",
    "KILOWATCH_RATE_LIMIT_RETRAIN_PER_MINUTE": "1000",
}
TRIGGER = """mutation($m: UUID!, $t: ModelType!) { triggerRetrain(machineId: $m, modelType: $t) {
  triggered reason job { id status } } }"""
CANCEL = "mutation($id: UUID!) { cancelTrainingJob(id: $id) { status } }"


@pytest.fixture(scope="module")
async def environment() -> AsyncIterator[dict[str, str]]:
    async with scratch_postgres_database() as database_url, scratch_redis(database_url) as redis:
        await upgrade_to_head(database_url)
        yield {
            **KNOBS,
            **redis,
            "KILOWATCH_DATABASE_URL": database_url,
            "KILOWATCH_AUTH": "off",
            "KILOWATCH_LOG_LEVEL": "INFO",
        }


@pytest.fixture
async def api(environment: dict[str, str]) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    app = create_app(settings_of(environment))
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = dict(state)
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://kilowatch.test", timeout=60) as client:
            yield client, state["resources"]


def settings_of(environment: dict[str, str]) -> Settings:
    return Settings(**{key.removeprefix("KILOWATCH_").lower(): value for key, value in environment.items()})


@contextmanager
def worker(environment: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=REPO,
            env={**os.environ, **environment},
            stdout=output,
            stderr=output,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def job_row(resources: Resources, job_id: str) -> TrainingJob:
    async with resources.sessions() as session:
        job = await session.get(TrainingJob, uuid.UUID(job_id))
    assert job is not None
    return job


async def wait_until(resources: Resources, job_id: str, statuses: set[str], timeout_s: float = 120) -> TrainingJob:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        job = await job_row(resources, job_id)
        if job.status.name in statuses:
            return job
        assert asyncio.get_running_loop().time() < deadline, (job.status, job.error_message)
        await asyncio.sleep(0.05)


async def trigger(client: httpx.AsyncClient, machine_id: uuid.UUID, model_type: str = "BASELINE") -> dict[str, Any]:
    return data_of(await graphql(client, TRIGGER, {"m": str(machine_id), "t": model_type}))["triggerRetrain"]


async def test_a_job_goes_pending_running_completed_through_a_worker_process(
    api: tuple[httpx.AsyncClient, Resources], environment: dict[str, str], tmp_path: Path
) -> None:
    client, resources = api
    machine_id = await seeded_machine(resources, f"press-{uuid.uuid4().hex[:6]}", days=60)
    redis = Redis.from_url(environment["KILOWATCH_REDIS_URL"])
    pubsub = redis.pubsub()
    await pubsub.subscribe(settings_of(environment).redis_name(JOBS_CHANNEL))
    try:
        with worker(environment, tmp_path / "worker.log"):
            started = await trigger(client, machine_id)
            job = await wait_until(resources, started["job"]["id"], {"COMPLETED", "FAILED"})
            seen: list[tuple[str, str | None]] = []
            quiet_until = asyncio.get_running_loop().time() + 1.0  # drain what arrived, then a quiet second
            while asyncio.get_running_loop().time() < quiet_until:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
                if message is None:
                    continue
                event = json.loads(message["data"])
                if event["id"] == started["job"]["id"]:
                    seen.append((event["status"], event["progress_step"]))
    finally:
        await pubsub.aclose()
        await redis.aclose()

    assert job.status.name == "COMPLETED", job.error_message
    statuses = [status for status, _ in seen]
    assert statuses[0] == "pending" and statuses[-1] == "completed"
    assert statuses.index("running") < statuses.index("completed")
    steps = [step for status, step in seen if status == "running"]
    assert {"load data", "fit", "validate", "store"} <= set(steps)
    assert steps.index("load data") < steps.index("fit") < steps.index("store")


async def test_fifty_concurrent_triggers_make_exactly_one_job(api: tuple[httpx.AsyncClient, Resources]) -> None:
    client, resources = api
    machine_id = await seeded_machine(resources, f"pump-{uuid.uuid4().hex[:6]}", days=20)

    answers = await asyncio.gather(*(trigger(client, machine_id) for _ in range(50)))

    assert sum(answer["triggered"] for answer in answers) == 1
    job_ids = {answer["job"]["id"] for answer in answers}
    assert len(job_ids) == 1
    assert all(answer["reason"] == "Training already in progress" for answer in answers if not answer["triggered"])
    async with resources.sessions() as session:
        count = await session.scalar(
            sa.select(sa.func.count()).select_from(TrainingJob).where(TrainingJob.machine_id == machine_id)
        )
    assert count == 1
    data_of(await graphql(client, CANCEL, {"id": job_ids.pop()}))  # leave nothing pending for later tests


async def test_cancel_while_pending_then_no_worker_runs_it(
    api: tuple[httpx.AsyncClient, Resources], environment: dict[str, str], tmp_path: Path
) -> None:
    client, resources = api
    machine_id = await seeded_machine(resources, f"oven-{uuid.uuid4().hex[:6]}", days=30)
    job_id = (await trigger(client, machine_id))["job"]["id"]  # no worker is running yet

    cancelled = data_of(await graphql(client, CANCEL, {"id": job_id}))["cancelTrainingJob"]
    with worker(environment, tmp_path / "worker.log"):
        await asyncio.sleep(2)

    assert cancelled["status"] == "CANCELLED"
    assert (await job_row(resources, job_id)).status.name == "CANCELLED"


async def test_cancel_while_running_leaves_no_version(
    api: tuple[httpx.AsyncClient, Resources], environment: dict[str, str], tmp_path: Path
) -> None:
    client, resources = api
    machine_id = await seeded_machine(resources, f"kiln-{uuid.uuid4().hex[:6]}", days=365)
    with worker(environment, tmp_path / "worker.log"):
        job_id = (await trigger(client, machine_id, "FORECAST_PROPHET"))["job"]["id"]
        await wait_until(resources, job_id, {"RUNNING"})

        await graphql(client, CANCEL, {"id": job_id})
        job = await wait_until(resources, job_id, {"CANCELLED", "COMPLETED", "FAILED"})

    assert job.status.name == "CANCELLED"
    async with resources.sessions() as session:
        versions = await session.scalar(
            sa.select(sa.func.count()).select_from(ModelVersion).where(ModelVersion.machine_id == machine_id)
        )
    assert versions == 0


async def test_a_killed_worker_is_noticed_and_the_series_can_train_again(
    api: tuple[httpx.AsyncClient, Resources], environment: dict[str, str], tmp_path: Path
) -> None:
    client, resources = api
    machine_id = await seeded_machine(resources, f"chiller-{uuid.uuid4().hex[:6]}", days=365)
    with worker(environment, tmp_path / "first.log") as first:
        job_id = (await trigger(client, machine_id, "FORECAST_PROPHET"))["job"]["id"]
        await wait_until(resources, job_id, {"RUNNING"})
        first.send_signal(signal.SIGKILL)
        first.wait()

    with worker(environment, tmp_path / "second.log"):
        lost = await wait_until(resources, job_id, {"FAILED", "COMPLETED"}, timeout_s=60)
        again = await trigger(client, machine_id, "BASELINE")
        retrained = await wait_until(resources, again["job"]["id"], {"COMPLETED", "FAILED"})

    assert lost.status.name == "FAILED" and "worker lost" in (lost.error_message or "")
    async with resources.sessions() as session:
        alert = await session.scalar(sa.select(Alert).where(Alert.training_job_id == uuid.UUID(job_id)))
    assert alert is not None and alert.alert_type.name == "TRAINING_FAILED"
    assert again["triggered"] and retrained.status.name == "COMPLETED"


async def test_a_pending_job_survives_redis_losing_it(
    api: tuple[httpx.AsyncClient, Resources], environment: dict[str, str], tmp_path: Path
) -> None:
    client, resources = api
    machine_id = await seeded_machine(resources, f"fan-{uuid.uuid4().hex[:6]}", days=30)
    job_id = (await trigger(client, machine_id))["job"]["id"]  # enqueued, but no worker yet
    await forget_redis_keys(environment["KILOWATCH_REDIS_PREFIX"], [job_id])  # Redis restarted without its data

    with worker(environment, tmp_path / "worker.log"):
        job = await wait_until(resources, job_id, {"COMPLETED", "FAILED"}, timeout_s=60)

    assert job.status.name == "COMPLETED", job.error_message


async def test_a_stopping_worker_hands_its_job_back_and_another_finishes_it(
    api: tuple[httpx.AsyncClient, Resources], environment: dict[str, str], tmp_path: Path
) -> None:
    client, resources = api
    machine_id = await seeded_machine(resources, f"mill-{uuid.uuid4().hex[:6]}", days=365)
    with worker(environment, tmp_path / "first.log") as first:
        job_id = (await trigger(client, machine_id, "FORECAST_PROPHET"))["job"]["id"]
        await wait_until(resources, job_id, {"RUNNING"})
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    handed_back = await job_row(resources, job_id)

    with worker(environment, tmp_path / "second.log"):
        finished = await wait_until(resources, job_id, {"COMPLETED", "FAILED", "CANCELLED"})

    assert handed_back.status.name == "PENDING" and handed_back.worker_id is None
    assert finished.status.name == "COMPLETED", finished.error_message
