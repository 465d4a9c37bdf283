"""Monitoring at fleet scale: one full cycle over every series, then one after a single new day.

    .venv/bin/python bench/monitoring.py [--machines 100 1000] [--train-days 365] [--monitor-days 30]
                                         [--cycles 2] [--profile FILE]

For each fleet size a scratch PostgreSQL database (``monscale_<random>``, dropped afterwards) is
migrated to head and filled by binary COPY: N machines (the demo fleet's six profiles in turn, each
machine its own seed) with ``train-days + monitor-days`` of hourly readings. Every machine gets a
champion of each of the four model types, as a training job would store it (artifact, reference
profile, validation metrics row). To keep the set-up to minutes, each (profile, model type) is
fitted once for real, in-process, and its artifact is stored for every machine of that profile
(each with a version id of its own, so a per-version cache sees N × 4 distinct versions); monitoring
does the same work for a copied artifact as for one fitted on the machine's own readings.

Then ``monitoring.evaluate_all`` (the periodic task the workers' cron runs) is timed in this process:

- **full**: the first cycle after training: every series has ``monitor-days`` of unseen readings
  (its data-quality check reads up to 31 + 7 days, its evaluation the out-of-sample history);
- **one new day**: one more day of readings per machine arrives (COPY), and the cycle runs again;
  repeated ``--cycles`` times (each with one more day).

It prints series evaluated, the cycle's wall time, series/s, this process's CPU seconds (which a busy
host does not inflate; the database's are not counted) and the load average. ``--profile`` writes a
cProfile of the first one-new-day cycle (``python -m pstats FILE``); ``--champions FILE`` keeps the
fitted champions between runs.

Measured with ``--machines 100 --cycles 2`` at load average 15-21, the code before and after the
monitoring changes run at the same time (docs/scaling.md): full cycle 623 s wall / 54.2 s CPU before,
281 s / 31.7 s after; one new day 383 s / 52.3 s before, 146-165 s / 18 s after (400 series). With
``--machines 1000`` (after, load 7-19): full 1,220 s / 291.5 s CPU, one new day 330 s / 167.9 s CPU
and 260 s / 166.1 s CPU (4,000 series; the fleet took 839 s to build).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pickle
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.config import Settings  # noqa: E402
from app.db.migrate import upgrade_to_head  # noqa: E402
from app.db.tables import METRIC_COLUMNS  # noqa: E402
from app.enums import MetricsSource, ModelType, VersionStage  # noqa: E402
from app.ml.model_types import get_model_type  # noqa: E402
from app.ml.synthetic import DEMO_FLEET, generate_readings  # noqa: E402
from app.runtime.resources import open_resources  # noqa: E402
from app.services.models.training import Candidate, _fit_and_compare, _json_safe  # noqa: E402
from app.services.tracking import monitoring  # noqa: E402
from tests.support import ADMIN_DSN  # noqa: E402

START = "2025-01-01"
#: Each fitted champion's artifact as this code stores it, by (profile, model type).
ARTIFACTS: dict[tuple[int, ModelType], bytes] = {}
READING_COLUMNS = ["machine_id", "ts", "energy_kwh", "production_units", "outdoor_temp_c", "is_anomaly"]


def records(machine_id: uuid.UUID, frame: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    production = frame["production_units"].astype(object).where(frame["production_units"].notna(), None)
    temperature = frame["outdoor_temp_c"].astype(object).where(frame["outdoor_temp_c"].notna(), None)
    anomaly = frame["is_anomaly"].astype(object).where(frame["is_anomaly"].notna(), None)
    for row in zip(frame.index.to_pydatetime(), frame["energy_kwh"], production, temperature, anomaly, strict=True):
        yield (machine_id, *row)


def fit_champions(train_days: int) -> dict[tuple[int, ModelType], Candidate]:
    """Each (profile, model type) fitted once on its first machine's training window, as a job would."""
    fitted = {}
    for index, profile in enumerate(DEMO_FLEET):
        frame = generate_readings(profile, START, train_days, seed=index, anomaly_events=train_days // 14)
        for model_type in ModelType:
            fitted[index, model_type] = _fit_and_compare(
                get_model_type(model_type.value), frame, None, lambda step, fraction: None
            )
    return fitted


async def build_fleet(
    dsn: str, machines: int, arguments: argparse.Namespace, champions: dict[tuple[int, ModelType], Candidate]
) -> list[tuple[uuid.UUID, pd.DataFrame]]:
    """Machines, readings (all but the held-back days) and champions; returns each machine's held-back days."""
    total_days = arguments.train_days + arguments.monitor_days + arguments.cycles
    held_back = arguments.cycles * 24
    connection = await asyncpg.connect(dsn)
    now = datetime.now(UTC)
    pending = []
    try:
        ids = [uuid.uuid4() for _ in range(machines)]
        await connection.copy_records_to_table(
            "machines",
            records=[(mid, f"machine {i:05d}", now) for i, mid in enumerate(ids)],
            columns=["id", "name", "created_at"],
        )
        for index, machine_id in enumerate(ids):
            profile = index % len(DEMO_FLEET)
            frame = generate_readings(
                DEMO_FLEET[profile], START, total_days, seed=1000 + index, anomaly_events=total_days // 14
            )
            await connection.copy_records_to_table(
                "energy_readings", records=records(machine_id, frame.iloc[:-held_back]), columns=READING_COLUMNS
            )
            pending.append((machine_id, frame.iloc[-held_back:]))
            await _store_champions(connection, machine_id, profile, champions, now)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return pending


async def _store_champions(
    connection: asyncpg.Connection,
    machine_id: uuid.UUID,
    profile: int,
    champions: dict[tuple[int, ModelType], Candidate],
    now: datetime,
) -> None:
    for model_type in ModelType:
        candidate = champions[profile, model_type]
        outcome = candidate.outcome
        version_id = uuid.uuid4()
        await connection.execute(
            "INSERT INTO model_versions (id, machine_id, model_type, version, stage, created_at, artifact, features,"
            " hyperparameters, trained_from, trained_to, training_rows, reference_profile)"
            " VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            version_id,
            machine_id,
            model_type.value,
            VersionStage.CHAMPION.value,
            now,
            ARTIFACTS[profile, model_type],
            json.dumps(list(outcome.model.features)),
            json.dumps(_json_safe(outcome.model.hyperparameters)),
            outcome.training_window.start.to_pydatetime(),
            outcome.validation_window.end.to_pydatetime(),
            outcome.training_window.rows + outcome.validation_window.rows,
            json.dumps(candidate.profile),
        )
        metrics = outcome.metrics.as_dict()
        columns = list(METRIC_COLUMNS)
        await connection.execute(
            "INSERT INTO model_performance_metrics (id, machine_id, model_type, model_version_id, source, evaluated_at,"
            " window_start, window_end, sample_count, extra, drift_detected, "
            + ", ".join(columns)
            + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, false, "
            + ", ".join(f"${11 + i}" for i in range(len(columns)))
            + ")",
            uuid.uuid4(),
            machine_id,
            model_type.value,
            version_id,
            MetricsSource.TRAINING_VALIDATION.value,
            now,
            outcome.validation_window.start.to_pydatetime(),
            outcome.validation_window.end.to_pydatetime(),
            int(metrics["sample_count"] or 0),
            json.dumps({k: v for k, v in metrics.items() if k not in METRIC_COLUMNS and k != "sample_count"}),
            *(metrics.get(name) for name in columns),
        )


async def append_day(dsn: str, pending: list[tuple[uuid.UUID, pd.DataFrame]], day: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for machine_id, frame in pending:
            await connection.copy_records_to_table(
                "energy_readings",
                records=records(machine_id, frame.iloc[day * 24 : (day + 1) * 24]),
                columns=READING_COLUMNS,
            )
    finally:
        await connection.close()


async def timed_cycle(dsn: str, profile_to: str | None) -> tuple[int, float, float]:
    settings = Settings(database_url=dsn, redis_url=None, retrain_schedule="off")
    async with open_resources(settings) as resources:
        profiler = cProfile.Profile() if profile_to else None
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        evaluated = await monitoring.evaluate_all(resources)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile_to)  # type: ignore[arg-type]
        return evaluated, time.perf_counter() - started, time.process_time() - cpu


async def measure(machines: int, arguments: argparse.Namespace, champions: dict[Any, Candidate]) -> None:
    name = f"monscale_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = ADMIN_DSN.rsplit("/", 1)[0]
    dsn = f"{base}/{name}"
    database_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await upgrade_to_head(database_url)
        started = time.perf_counter()
        pending = await build_fleet(dsn, machines, arguments, champions)
        print(f"\n{machines} machines ({machines * 4} series): fleet built in {time.perf_counter() - started:.0f} s")
        _row("full", *await timed_cycle(database_url, None))
        for day in range(arguments.cycles):
            await append_day(dsn, pending, day)
            profile_to = arguments.profile if day == 0 else None
            _row(
                f"one new day ({day + 1})", *await timed_cycle(database_url, profile_to and f"{profile_to}.{machines}")
            )
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _row(label: str, evaluated: int, seconds: float, cpu: float) -> None:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"  {label:<20} {evaluated:>6} series in {seconds:8.2f} s = {evaluated / seconds:7.1f} series/s,"
        f" {cpu:7.2f} s CPU of this process  (load {load})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--train-days", type=int, default=365)
    parser.add_argument("--monitor-days", type=int, default=30)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--profile", help="write a cProfile of the first one-new-day cycle to FILE.<machines>")
    parser.add_argument("--champions", help="pickle of the fitted champions: read if it exists, else written")
    arguments = parser.parse_args()
    started = time.perf_counter()
    if arguments.champions and Path(arguments.champions).exists():
        champions = pickle.loads(Path(arguments.champions).read_bytes())
    else:
        champions = fit_champions(arguments.train_days)
        if arguments.champions:
            Path(arguments.champions).write_bytes(pickle.dumps(champions))
    for key, candidate in champions.items():
        ARTIFACTS[key] = candidate.outcome.model.to_bytes()
    print(f"{len(champions)} champions fitted in {time.perf_counter() - started:.0f} s")
    for machines in arguments.machines:
        asyncio.run(measure(machines, arguments, champions))


if __name__ == "__main__":
    main()
