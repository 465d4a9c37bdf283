"""PostgreSQL out of reach for a few seconds, through a proxy the test cuts: while serving and during a fit.

The service runs on a scratch database behind ``tests.faults.TcpProxy``; cutting the proxy drops every
connection and refuses new ones, which is what a restart or a network partition looks like from here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.config import Settings
from app.db.migrate import upgrade_to_head
from app.db.tables import ModelVersion, PerformanceMetrics, TrainingJob
from app.enums import JobStatus, Role
from tests.faults import TcpProxy, proxied
from tests.integration.apps import client_as, running
from tests.seeding import seeded_machine
from tests.support import data_of, graphql, scratch_postgres_database

#: Short knobs, so the bound the README states (stale + sweep after the database is back) is seconds here.
KNOBS = {"job_heartbeat_s": 0.5, "job_stale_after_s": 4.0, "sweep_interval_s": 1.0, "retrain_schedule": "off"}
OUTAGE_S = 2.5
TRIGGER = """mutation($m: UUID!, $t: ModelType!) { triggerRetrain(machineId: $m, modelType: $t) {
  triggered job { id status } } }"""
MACHINES = "{ machines { name } }"


@pytest.fixture
async def database() -> AsyncIterator[tuple[str, str, TcpProxy]]:
    """(direct URL, URL through the proxy, the proxy)."""
    async with scratch_postgres_database() as url:
        await upgrade_to_head(url)
        async with proxied(url) as (through, proxy):
            yield url, through, proxy


@pytest.fixture
async def app(database: tuple[str, str, TcpProxy]) -> AsyncIterator[Starlette]:
    _, through, _ = database
    async with running(Settings(database_url=through, redis_url=None, **KNOBS)) as application:  # type: ignore[arg-type]
        yield application


async def job_status(direct: str, job_id: str) -> TrainingJob:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    engine = create_async_engine(direct)
    try:
        async with async_sessionmaker(engine)() as session:
            job = await session.get(TrainingJob, uuid.UUID(job_id))
    finally:
        await engine.dispose()
    assert job is not None
    return job


async def test_a_fit_through_a_database_outage_ends_terminal_within_the_bound(
    app: Starlette, database: tuple[str, str, TcpProxy]
) -> None:
    direct, _, proxy = database
    resources = app.state.lifespan_state["resources"]
    machine_id = await seeded_machine(resources, "chiller", days=365)
    async with client_as(app, Role.ADMIN) as client:
        job_id = data_of(await graphql(client, TRIGGER, {"m": str(machine_id), "t": "FORECAST_PROPHET"}))[
            "triggerRetrain"
        ]["job"]["id"]
        while (await job_status(direct, job_id)).progress_step in (None, "starting", "load data"):
            await asyncio.sleep(0.05)  # the fit is under way: its progress writes now need the database

        proxy.cut()
        await asyncio.sleep(OUTAGE_S)
        proxy.restore()
        back = asyncio.get_running_loop().time()

        bound = KNOBS["job_stale_after_s"] + KNOBS["sweep_interval_s"]
        while (job := await job_status(direct, job_id)).status in (JobStatus.PENDING, JobStatus.RUNNING):
            waited = asyncio.get_running_loop().time() - back
            assert waited < bound + 60, f"still {job.status} at {job.progress_step!r} {waited:.0f} s after the outage"
            await asyncio.sleep(0.1)
        after = asyncio.get_running_loop().time() - back

        # Recovered without a restart: the same process answers and trains again.
        assert data_of(await graphql(client, MACHINES)) == {"machines": [{"name": "chiller"}]}

    assert job.status == JobStatus.COMPLETED, (job.status, job.error_message, after)
    async with resources.sessions() as session:
        versions = (await session.scalars(sa.select(ModelVersion).where(ModelVersion.machine_id == machine_id))).all()
        metrics = await session.scalar(sa.select(sa.func.count()).select_from(PerformanceMetrics))
    assert [version.id for version in versions] == [job.model_version_id] and metrics == 1  # whole, once


async def test_a_database_away_longer_than_the_outcome_retries_fails_the_job_and_frees_the_series(
    app: Starlette, database: tuple[str, str, TcpProxy]
) -> None:
    """Down for longer than ``job_stale_after_s``, the retry window of the job's outcome writes, mid-fit.

    A baseline fits in about a second, so its outcome (the version, or the failure) is due while the
    database is away: retried for the window, then given up, heartbeat and all. Once the database is
    back, the sweeper fails the job within stale + sweep, and the series trains again.
    """
    direct, _, proxy = database
    resources = app.state.lifespan_state["resources"]
    machine_id = await seeded_machine(resources, "long outage", days=365)
    outage_s = KNOBS["job_stale_after_s"] + 3.0
    async with client_as(app, Role.ADMIN) as client:
        variables = {"m": str(machine_id), "t": "BASELINE"}
        job_id = data_of(await graphql(client, TRIGGER, variables))["triggerRetrain"]["job"]["id"]
        while (await job_status(direct, job_id)).progress_step in (None, "starting"):
            await asyncio.sleep(0.02)  # training data being read: the fit comes next

        proxy.cut()
        assert (await job_status(direct, job_id)).status == JobStatus.RUNNING  # read past the proxy
        await asyncio.sleep(outage_s)
        proxy.restore()
        back = asyncio.get_running_loop().time()

        bound = KNOBS["job_stale_after_s"] + KNOBS["sweep_interval_s"]
        while (job := await job_status(direct, job_id)).status in (JobStatus.PENDING, JobStatus.RUNNING):
            waited = asyncio.get_running_loop().time() - back
            assert waited < bound + 30, f"still {job.status} at {job.progress_step!r} {waited:.0f} s after the outage"
            await asyncio.sleep(0.1)

        again = data_of(await graphql(client, TRIGGER, variables))["triggerRetrain"]
        assert again["triggered"], again  # the series is not blocked by the failed job
        retrained = await job_status(direct, again["job"]["id"])
        while retrained.status in (JobStatus.PENDING, JobStatus.RUNNING):
            await asyncio.sleep(0.1)
            retrained = await job_status(direct, again["job"]["id"])

    assert job.status in (JobStatus.FAILED, JobStatus.COMPLETED), job.status
    if job.status == JobStatus.FAILED:  # the reason says what happened, not a bare "failed"
        assert job.error_message and ("database" in job.error_message or "connect" in job.error_message.lower())
    assert retrained.status == JobStatus.COMPLETED, (retrained.status, retrained.error_message)


async def _serve_during_outage(clients: list[httpx.AsyncClient], proxy: TcpProxy) -> list[httpx.Response]:
    """Reads and writes sent during a cut and as it ends; every answer is kept."""
    answers: list[httpx.Response] = []

    async def send(client: httpx.AsyncClient, index: int) -> None:
        for body in (
            {"query": MACHINES},
            {"query": "mutation($n: String!) { registerMachine(name: $n) { name } }", "variables": {"n": f"m{index}"}},
        ):
            answers.append(await client.post("/graphql", json=body))

    proxy.cut()
    during = asyncio.gather(*(send(clients[index % len(clients)], index) for index in range(6)))
    await asyncio.sleep(1.0)
    proxy.restore()
    await during
    return answers


async def test_requests_during_an_outage_fail_cleanly_and_the_next_ones_succeed(
    app: Starlette, database: tuple[str, str, TcpProxy]
) -> None:
    _, _, proxy = database
    async with client_as(app, Role.ADMIN) as client, client_as(app, Role.OPERATOR) as unseen:
        assert data_of(await graphql(client, MACHINES)) == {"machines": []}
        # ``unseen`` sends its token for the first time during the outage: looking it up needs the database.
        answers = await _serve_during_outage([client, unseen], proxy)
        after = [await graphql(client, MACHINES) for _ in range(3)]
        write = await graphql(client, 'mutation { registerMachine(name: "after") { name } }')

    for answer in answers:  # JSON with a code, never a plain-text 500 nor an INTERNAL
        assert answer.headers["content-type"].startswith("application/json"), (answer.status_code, answer.text)
        codes = {error["extensions"]["code"] for error in answer.json().get("errors") or []}
        assert codes <= {"SERVICE_UNAVAILABLE"}, answer.text
        assert answer.status_code in (200, 503), answer.text
    assert all(data_of(result)["machines"] is not None for result in after)
    assert data_of(write) == {"registerMachine": {"name": "after"}}
    async with app.state.lifespan_state["resources"].sessions() as session:
        names = set((await session.scalars(sa.text("SELECT name FROM machines"))).all())
    answered = {answer.json()["data"]["registerMachine"]["name"] for answer in answers if _registered(answer)}
    assert answered | {"after"} == names  # every write that said yes is stored, and nothing else


def _registered(answer: httpx.Response) -> bool:
    data = answer.json().get("data") or {}
    return bool(data.get("registerMachine"))
