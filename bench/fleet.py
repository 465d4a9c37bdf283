"""A whole fleet measured in one run: training, monitoring, the dashboard's reads, storage and memory.

    python -m bench.fleet [--machines 100] [--database kw_bench_fleet_100] [--keep] [--reuse]
                          [--sample 8] [--gap-days 7] [--read-seconds 30]

Set-up: a PostgreSQL database of its own (``--database``, default ``kw_bench_fleet_<N>``), migrated
to head, and a Redis key prefix of its own (its keys and the ARQ keys of its jobs are deleted at the
end). ``kilowatch serve`` (authentication on, a viewer token) and two ``kilowatch worker`` processes
run as subprocesses in production mode, as they are deployed.

1. *build*: N machines (the six ``DEMO_FLEET`` profiles in turn, a seed each, ``app.ml.synthetic``'s
   vectorised generator) with a year of hourly readings each, written through the ingest service
   (``ingest.upsert_readings``: COPY into ``energy_readings``), one transaction per machine; then every
   series (machine x model type) trained for real by the workers, one model type at a time, the jobs
   triggered through the service ``triggerRetrain`` calls (``job_lifecycle.trigger``). Its timing is the
   retraining throughput at full N on two workers. ``--reuse`` keeps what an earlier ``--keep`` run
   built: machines already there are not loaded again, series with a champion are not trained again.
2. *retraining, 1 vs 2 workers*: the first ``--sample`` machines' series retrained again, type by type,
   on two workers and then on one (the second worker stopped): fits/min by type and the ratio.
3. *monitoring*: ``--gap-days`` of new readings for every machine, then one monitoring cycle, enqueued
   as the workers' own ``monitoring`` cron job on their maintenance queue and run by one worker (the
   production path: data quality of every machine, then every champion with a new window); then one
   new day for every machine and the cycle again. Series/s of each, and the ingest rate.
4. *dashboard reads* (``bench/fleet_reads.py``, wrk): the fleet page alone on 1 connection and on 32,
   and the mixed reads of the fleet, model (and its trend and drift tabs), alerts and A/B pages on 32.
   A few A/B tests are started first on the sample's retrained series so the A/B page has tests.
5. *size and memory*: ``pg_total_relation_size`` per table and per machine-year; peak RSS (VmHWM) of
   the API and of each worker.

The readings span a year ending ``SPARE_DAYS`` before the build, so later ``--reuse`` runs find the new
days they ingest in the past (a run takes ``--gap-days`` + 1 of them). Targets are printed beside the
measurements, projected to the target's fleet size from the measured rates where N differs.

Measured on this 2-core host, quiet: ``python -m bench.fleet --machines 1000 --keep`` ran end to end in
38.5 min (readings 2 min; training 28.1 min on two workers: 323 BASELINE, 210 ANOMALY, 378 FORECAST_ARIMA
and 57 FORECAST_PROPHET fits/min; monitoring 213 s full, 102 s one new day; fleet page p50 61 ms; mixed
reads 43 requests/s at 32 connections, 0 errors; 1.81 MB per machine-year). After this work's monitoring
and fleet-page changes, ``--reuse`` on that database (5.6-7.3 min): monitoring 150 s full, 58.1 and 59.7 s
one new day, fleet page p50 27-30 ms, mixed reads 64-72 requests/s, p99 0.8 s. docs/scaling.md has the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pandas as pd
from arq.connections import create_pool
from arq.constants import job_key_prefix

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.cli.demo import reading_rows  # noqa: E402
from app.config import Settings  # noqa: E402
from app.constants import MAINTENANCE_QUEUE  # noqa: E402
from app.db.engine import transaction  # noqa: E402
from app.db.migrate import upgrade_to_head  # noqa: E402
from app.enums import ModelType, TriggerType  # noqa: E402
from app.errors import KilowatchError  # noqa: E402
from app.ml.synthetic import DEMO_FLEET, generate_readings  # noqa: E402
from app.runtime.queue import redis_settings  # noqa: E402
from app.runtime.resources import Resources, open_resources  # noqa: E402
from app.services.experiments import abtests  # noqa: E402
from app.services.fleet import ingest, machines  # noqa: E402
from app.services.models import job_lifecycle, registry  # noqa: E402
from bench.fleet_reads import READ_WEIGHTS, LoadResult, request_pool, run_wrk  # noqa: E402
from bench.fleet_report import Phase, Targets, print_report  # noqa: E402
from bench.soak import dashboard_operations, free_port, process, run, serve_command, wait_ready  # noqa: E402
from tests.support import ADMIN_DSN, REDIS_URL, forget_redis_keys  # noqa: E402

HISTORY_DAYS = 365
SPARE_DAYS = 35
DAYS_PER_ANOMALY = 14
ACTOR = "bench fleet"
TERMINAL = ("completed", "failed", "cancelled")
AB_TESTS = 10
#: Starting the API beside two workers starting and a big fleet being loaded takes minutes on a busy host.
READY_TIMEOUT_S = 600.0


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def machine_name(index: int) -> str:
    return f"fleet-{index:05d}-{DEMO_FLEET[index % len(DEMO_FLEET)].name}"


def readings_of(index: int, start: pd.Timestamp) -> pd.DataFrame:
    """The machine's whole generated span: labelled anomaly events in the history year, none after it
    (monitoring would read them as faults, as the demo's replay avoids too)."""
    profile, days = DEMO_FLEET[index % len(DEMO_FLEET)], HISTORY_DAYS + SPARE_DAYS
    with_events = generate_readings(profile, start, days, seed=index, anomaly_events=HISTORY_DAYS // DAYS_PER_ANOMALY)
    history_end = start + pd.Timedelta(days=HISTORY_DAYS)
    later = generate_readings(profile, start, days, seed=index)
    return pd.concat([with_events.loc[with_events.index < history_end], later.loc[later.index >= history_end]])


@dataclass
class Fleet:
    dsn: str
    start: pd.Timestamp
    ids: list[uuid.UUID] = field(default_factory=list)


async def database(name: str, reuse: bool) -> bool:
    """Create ``name``; True if it already existed (only allowed with ``--reuse``)."""
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and not reuse:
            raise SystemExit(f"database {name} exists: pass --reuse to measure it, or drop it")
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return bool(exists)


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def load_history(resources: Resources, fleet: Fleet, count: int) -> tuple[int, float]:
    """Register and fill the machines not there yet; returns (rows written, seconds)."""
    connection = await asyncpg.connect(fleet.dsn)
    try:
        existing = dict(await connection.fetch("SELECT name, id FROM machines"))
        first = existing.get(machine_name(0))
        if first is not None:
            fleet.start = pd.Timestamp(
                await connection.fetchval("SELECT min(ts) FROM energy_readings WHERE machine_id = $1", first)
            )
    finally:
        await connection.close()
    written, started = 0, time.perf_counter()
    history_end = fleet.start + pd.Timedelta(days=HISTORY_DAYS)
    for index in range(count):
        if (known := existing.get(machine_name(index))) is not None:
            fleet.ids.append(known)
            continue
        frame = readings_of(index, fleet.start)
        rows = reading_rows(frame.loc[frame.index < history_end])
        async with transaction(resources.sessions) as session:
            machine = await machines.register(session, machine_name(index))
            await ingest.upsert_readings(session, machine.id, rows, time_range=(rows[0][0], rows[-1][0]))
        fleet.ids.append(machine.id)
        written += len(rows)
        if index % 50 == 49:
            log(f"build: {index + 1}/{count} machines loaded")
    return written, time.perf_counter() - started


async def ingest_days(resources: Resources, fleet: Fleet, days: int) -> tuple[int, float]:
    """The next ``days`` of every machine's readings, one upsert per machine; returns (rows, seconds)."""
    connection = await asyncpg.connect(fleet.dsn)
    try:
        latest = [
            await connection.fetchval("SELECT max(ts) FROM energy_readings WHERE machine_id = $1", machine_id)
            for machine_id in fleet.ids
        ]
    finally:
        await connection.close()
    written, started = 0, time.perf_counter()
    for index, (machine_id, last) in enumerate(zip(fleet.ids, latest, strict=True)):
        frame = readings_of(index, fleet.start)
        new = frame.loc[(frame.index > last) & (frame.index <= last + pd.Timedelta(days=days))]
        if len(new) < days * 24:
            raise SystemExit(f"{machine_name(index)} has no {days} spare days left after {last}: build a new database")
        rows = reading_rows(new)
        async with transaction(resources.sessions) as session:
            await ingest.upsert_readings(session, machine_id, rows, time_range=(rows[0][0], rows[-1][0]))
        written += len(rows)
    return written, time.perf_counter() - started


async def champions(dsn: str) -> set[tuple[uuid.UUID, str]]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT machine_id, model_type FROM model_versions WHERE stage = 'champion'")
    finally:
        await connection.close()
    return {(row["machine_id"], row["model_type"]) for row in rows}


@dataclass(frozen=True)
class Batch:
    model_type: ModelType
    workers: int
    jobs: int
    failed: int
    seconds: float
    mean_job_s: float
    load: float

    @property
    def fits_per_min(self) -> float:
        return 60 * self.jobs / self.seconds if self.seconds else 0.0


async def train(
    resources: Resources, dsn: str, ids: list[uuid.UUID], model_type: ModelType, workers: int, alive: list[Any]
) -> Batch:
    """Trigger a job per machine for ``model_type`` and wait until every one is terminal."""
    started = time.perf_counter()
    job_ids = []
    for machine_id in ids:
        outcome = await job_lifecycle.trigger(
            resources, machine_id, model_type, TriggerType.MANUAL, reason="fleet benchmark", requested_by=ACTOR
        )
        job_ids.append(outcome.job.id)
    connection = await asyncpg.connect(dsn)
    try:
        while True:
            counts = dict(
                await connection.fetch(
                    "SELECT status, count(*) FROM model_training_history WHERE id = ANY($1::uuid[]) GROUP BY status",
                    job_ids,
                )
            )
            if sum(counts.get(status, 0) for status in TERMINAL) == len(job_ids):
                break
            for worker in alive:
                if worker.poll() is not None:
                    raise SystemExit(f"a worker exited ({worker.returncode}) while training")
            await asyncio.sleep(1.0)
        seconds = time.perf_counter() - started
        mean = await connection.fetchval(
            "SELECT avg(extract(epoch FROM finished_at - started_at)) FROM model_training_history "
            "WHERE id = ANY($1::uuid[]) AND status = 'completed'",
            job_ids,
        )
    finally:
        await connection.close()
    failed = len(job_ids) - counts.get("completed", 0)
    batch = Batch(model_type, workers, len(job_ids), failed, seconds, float(mean or 0.0), os.getloadavg()[0])
    log(
        f"trained {batch.jobs} {model_type.name} on {workers} worker(s) in {seconds:.0f} s "
        f"({batch.fits_per_min:.1f}/min, {failed} failed)"
    )
    return batch


async def monitoring_cycle(settings: Settings, dsn: str, number: int) -> tuple[int, float]:
    """Run the workers' ``monitoring`` cron job once, now, on their maintenance queue; (evaluations, seconds).

    ARQ keeps no result of a cron job; its job key is deleted when the run ends, which is the end
    measured. Each evaluation stores one drift report, which is what is counted.
    """
    reports = "SELECT count(*) FROM drift_reports"
    connection = await asyncpg.connect(dsn)
    pool = await create_pool(redis_settings(REDIS_URL))
    try:
        before = await connection.fetchval(reports)
        started = time.perf_counter()
        job = await pool.enqueue_job(
            settings.redis_name("monitoring"),
            _job_id=settings.redis_name(f"bench-monitoring-{uuid.uuid4().hex[:8]}-{number}"),
            _queue_name=settings.redis_name(MAINTENANCE_QUEUE),
        )
        assert job is not None
        while await pool.exists(job_key_prefix + job.job_id):
            await asyncio.sleep(0.2)
        seconds = time.perf_counter() - started
        return int(await connection.fetchval(reports) - before), seconds
    finally:
        await pool.aclose()
        await connection.close()


async def start_ab_tests(resources: Resources, ids: list[uuid.UUID]) -> int:
    """A/B tests of each sample series' two newest versions (the A/B page's content); returns how many run."""
    keys = [(machine_id, model_type) for machine_id in ids for model_type in ModelType][:AB_TESTS]
    async with resources.reads() as session:
        versions = await registry.versions_of_series(session, keys, limit=2)
    started = 0
    for found in versions.values():
        if len(found) < 2:
            continue
        try:
            async with transaction(resources.sessions) as session:
                await abtests.start(session, abtests.TestPlan(model_a_id=found[1].id, model_b_id=found[0].id), ACTOR)
            started += 1
        except KilowatchError:  # a test of an earlier --reuse run still runs on the series
            pass
    return started


async def sizes(dsn: str) -> list[tuple[str, int]]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 2 DESC"
        )
    finally:
        await connection.close()
    return [(row[0], int(row[1])) for row in rows]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bench(arguments: argparse.Namespace) -> None:
    began = time.perf_counter()
    phases: list[Phase] = []
    name = arguments.database or f"kw_bench_fleet_{arguments.machines}"
    existed = await database(name, arguments.reuse)
    url = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    prefix = f"kw-bench-fleet-{uuid.uuid4().hex[:8]}"
    directory = Path(tempfile.mkdtemp(prefix="kilowatch-fleet-"))
    log(f"database {name} ({'reused' if existed else 'new'}), redis prefix {prefix}, logs in {directory}")
    environment = {
        **os.environ,
        "KILOWATCH_DATABASE_URL": url,
        "KILOWATCH_REDIS_URL": REDIS_URL,
        "KILOWATCH_REDIS_PREFIX": prefix,
        "KILOWATCH_AUTH": "on",
        "KILOWATCH_LOG_LEVEL": "WARNING",
        "KILOWATCH_RETRAIN_SCHEDULE": "off",
        # the monitoring cron fires at midnight only: this run starts the cycles it measures itself
        "KILOWATCH_MONITORING_INTERVAL_S": "86400",
    }
    settings = Settings(database_url=url, redis_url=REDIS_URL, redis_prefix=prefix, retrain_schedule="off")
    targets = Targets(machines=arguments.machines)
    rss: dict[str, float] = {}
    try:
        await upgrade_to_head(url)
        cli = [sys.executable, "-m", "app.cli"]
        token = (
            run([*cli, "token", "create", "--name", prefix, "--role", "viewer"], environment).strip().splitlines()[-1]
        )
        fleet = Fleet(dsn, pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(days=HISTORY_DAYS + SPARE_DAYS))
        async with open_resources(settings) as resources:
            rows, seconds = await load_history(resources, fleet, arguments.machines)
            phases.append(
                Phase("build: readings", seconds, f"{rows:,} rows, {rows / seconds:,.0f} rows/s" if rows else "reused")
            )
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            with ExitStack() as stack, ExitStack() as second:
                api = stack.enter_context(process(serve_command(port, None), environment, directory / "api.log"))
                first = stack.enter_context(process([*cli, "worker"], environment, directory / "worker-1.log"))
                other = second.enter_context(process([*cli, "worker"], environment, directory / "worker-2.log"))
                await wait_ready(base, api, directory / "api.log", READY_TIMEOUT_S)
                trained = await champions(dsn)
                build: list[Batch] = []
                for model_type in ModelType:
                    missing = [m for m in fleet.ids if (m, model_type.value) not in trained]
                    if missing:
                        build.append(await train(resources, dsn, missing, model_type, 2, [first, other]))
                targets.add_build(phases, build)
                sample = fleet.ids[: arguments.sample]
                by_workers: dict[int, list[Batch]] = {}
                for workers in (2, 1):
                    if workers == 1:
                        rss["worker 2"] = peak_rss_mb(other.pid)
                        second.close()
                    alive = [first, other][:workers]
                    by_workers[workers] = [
                        await train(resources, dsn, sample, model_type, workers, alive) for model_type in ModelType
                    ]
                targets.add_scaling(phases, by_workers)
                for number, days in enumerate((arguments.gap_days, 1)):
                    written, seconds = await ingest_days(resources, fleet, days)
                    phases.append(
                        Phase(
                            f"ingest {days} new day(s)", seconds, f"{written:,} rows, {written / seconds:,.0f} rows/s"
                        )
                    )
                    log(f"ingested {days} day(s) for every machine; monitoring cycle {number + 1}")
                    evaluations, seconds = await monitoring_cycle(settings, dsn, number)
                    targets.add_cycle(phases, days, evaluations, seconds, len(fleet.ids) * len(ModelType))
                tests = await start_ab_tests(resources, sample)
                log(f"{tests} A/B tests started; dashboard reads")
                operations = dashboard_operations()
                series = [(str(m), ModelType(t).name) for m, t in sorted(await champions(dsn), key=str)]
                fleet_only = request_pool(operations, series, {"Fleet": 1})
                mixed = request_pool(operations, series, READ_WEIGHTS)
                run_wrk(base, token, mixed, "warm-up", 8, 5)
                reads: list[LoadResult] = [
                    run_wrk(base, token, fleet_only, "fleet page alone", 1, arguments.read_seconds, threads=1),
                    run_wrk(base, token, fleet_only, "fleet page alone", 32, arguments.read_seconds),
                    run_wrk(base, token, mixed, "mixed dashboard reads", 32, arguments.read_seconds),
                ]
                targets.add_reads(phases, reads)
                rss["API"], rss["worker 1"] = peak_rss_mb(api.pid), peak_rss_mb(first.pid)
        print_report(phases, targets, await sizes(dsn), rss, arguments.machines, time.perf_counter() - began)
    finally:
        connection = await asyncpg.connect(dsn)
        try:
            job_ids = [str(row[0]) for row in await connection.fetch("SELECT id FROM model_training_history")]
        finally:
            await connection.close()
        await forget_redis_keys(prefix, job_ids)
        if not arguments.keep:
            await drop_database(name)
            log(f"database {name} dropped")
        else:
            log(f"database {name} kept")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=100, help="fleet size N")
    parser.add_argument("--database", help="scratch database name (default kw_bench_fleet_<N>)")
    parser.add_argument("--keep", action="store_true", help="keep the database for a later --reuse")
    parser.add_argument(
        "--reuse", action="store_true", help="measure an existing database, building only what it lacks"
    )
    parser.add_argument("--sample", type=int, default=8, help="machines retrained on 1 and on 2 workers")
    parser.add_argument("--gap-days", type=int, default=7, help="new days before the first monitoring cycle")
    parser.add_argument("--read-seconds", type=float, default=30.0, help="duration of each wrk run")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
