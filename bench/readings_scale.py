"""The readings table at scale: the reads training and monitoring make, at a small and a large size.

For each size, a scratch PostgreSQL database (created and dropped by this run) is migrated to head
and filled by binary COPY with a fleet of machines, one year of hourly readings each (8,760 rows per
machine; the size decides how many machines). Then, on random machines:

- the reads the services make: one machine's training window (``readings.recent_frame``, 365 days),
  the monitoring reads (``recent_frame`` over 1 and 7 days, ``latest_instant``), and the fleet page's
  reading statistics for 100 machines, with median and p90: the aggregate over their readings the page
  used to run, and the kept statistics it reads now (``reading_stats.of_machines``);
- ``EXPLAIN (ANALYZE, BUFFERS)`` of the training and one-day reads, quoted;
- ingest: COPY rows/s while filling, and the API's upsert of one new day (24 rows) per machine;
- ``VACUUM (ANALYZE)`` of the table after one new day per machine was upserted, and the table's size
  per machine-year (heap and primary-key index).

The point is whether time partitioning of readings would pay off: if the per-machine reads are
index range scans whose cost does not grow with the table, partitioning buys nothing for them.

    python bench/readings_scale.py [--sizes 1000000 50000000] [--samples 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.db.engine import create_engine, create_read_session_factory, create_session_factory  # noqa: E402
from app.db.migrate import upgrade_to_head  # noqa: E402
from app.services.fleet import ingest, reading_stats, readings  # noqa: E402
from tests.support import scratch_postgres_database  # noqa: E402

HOURS = 8_760
END = datetime(2026, 1, 1, tzinfo=UTC)
TRAINING = """SELECT ts, energy_kwh, production_units, outdoor_temp_c, is_anomaly FROM energy_readings
WHERE machine_id = $1 AND ts > $2::timestamptz - interval '365 days' AND ts <= $2 ORDER BY ts"""
ONE_DAY = TRAINING.replace("365 days", "1 day")
#: The fleet page's reading statistics as it computed them before they were kept per machine.
AGGREGATE = sa.text(
    "SELECT machine_id, count(*), min(ts), max(ts) FROM energy_readings "
    "WHERE machine_id = ANY(:machine_ids) GROUP BY machine_id"
)


def year_of_readings(machine_id: uuid.UUID, seed: int) -> Iterator[tuple[Any, ...]]:
    generator = np.random.default_rng(seed)
    hours = np.arange(HOURS)
    temperature = 10 + 12 * np.sin(2 * np.pi * (hours / HOURS - 0.3)) + generator.normal(0, 2, HOURS)
    production = np.where((hours // 24) % 7 < 5, 80.0, 10.0) + generator.normal(0, 5, HOURS)
    energy = 50 + 0.8 * production + 1.5 * np.abs(temperature - 16) + generator.normal(0, 3, HOURS)
    start = END - timedelta(hours=HOURS)
    for hour in range(HOURS):
        yield (
            machine_id,
            start + timedelta(hours=hour + 1),
            float(energy[hour]),
            float(production[hour]),
            float(temperature[hour]),
            False,
        )


async def fill(dsn: str, count: int) -> tuple[list[uuid.UUID], float]:
    """``count`` machines with a year each; returns their ids and the COPY rate (rows/s)."""
    connection = await asyncpg.connect(dsn)
    ids = [uuid.uuid4() for _ in range(count)]
    try:
        await connection.copy_records_to_table(
            "machines",
            records=[(mid, f"machine {i:06d}", END) for i, mid in enumerate(ids)],
            columns=["id", "name", "created_at"],
        )
        started = time.perf_counter()
        for index, machine_id in enumerate(ids):
            await connection.copy_records_to_table(
                "energy_readings",
                records=year_of_readings(machine_id, index),
                columns=["machine_id", "ts", "energy_kwh", "production_units", "outdoor_temp_c", "is_anomaly"],
            )
        rate = count * HOURS / (time.perf_counter() - started)
        # What ingest.upsert_readings keeps in its transaction; the COPY above went around it.
        await connection.execute(
            "INSERT INTO machine_reading_stats SELECT machine_id, count(*), min(ts), max(ts) "
            "FROM energy_readings GROUP BY machine_id"
        )
        await connection.execute("ANALYZE energy_readings")
    finally:
        await connection.close()
    return ids, rate


async def timed(samples: list[Any], call: Callable[[Any], Awaitable[object]]) -> tuple[float, float]:
    """Median and p90 in ms."""
    seconds = []
    for sample in samples:
        started = time.perf_counter()
        await call(sample)
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return statistics.median(seconds) * 1000, seconds[int(0.9 * (len(seconds) - 1))] * 1000


async def plan(dsn: str, sql: str, machine_id: uuid.UUID) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", machine_id, END)
    finally:
        await connection.close()
    return [row[0] for row in rows]


async def measure(size: int, arguments: argparse.Namespace) -> dict[str, Any]:
    count = max(1, size // HOURS)
    async with scratch_postgres_database() as url:
        await upgrade_to_head(url)
        dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        ids, copy_rate = await fill(dsn, count)
        engine = create_engine(url)
        reads = create_read_session_factory(engine)
        writes = create_session_factory(engine)
        sample = random.Random(size).sample(ids, min(arguments.samples, len(ids)))
        results: dict[str, Any] = {"size": count * HOURS, "machines": count, "copy_rate": copy_rate}

        async def frame(machine_id: uuid.UUID, days: int) -> None:
            async with reads() as session:
                data = await readings.recent_frame(session, machine_id, days)
            assert len(data) == days * 24, len(data)

        async def latest(machine_id: uuid.UUID) -> None:
            async with reads() as session:
                assert await readings.latest_instant(session, machine_id) == END

        fleet = ids[: min(100, len(ids))]

        async def aggregate(_: object) -> None:
            async with reads() as session:
                found = await session.execute(AGGREGATE, {"machine_ids": fleet})
            assert all(count == HOURS for _, count, _, _ in found)

        async def stats(_: object) -> None:
            async with reads() as session:
                found = await reading_stats.of_machines(session, fleet)
            assert all(item.count == HOURS for item in found.values())

        await timed(sample[:3], lambda machine_id: frame(machine_id, 365))  # warm the pool and the plans
        results["training"] = await timed(sample, lambda machine_id: frame(machine_id, 365))
        results["day"] = await timed(sample, lambda machine_id: frame(machine_id, 1))
        results["week"] = await timed(sample, lambda machine_id: frame(machine_id, 7))
        results["latest"] = await timed(sample, latest)
        results["aggregate"] = await timed(list(range(5)), aggregate)
        results["stats"] = await timed(list(range(5)), stats)
        results["plan_training"] = await plan(dsn, TRAINING, sample[0])
        results["plan_day"] = await plan(dsn, ONE_DAY, sample[0])

        async def new_day(machine_id: uuid.UUID) -> None:
            rows = [(END + timedelta(hours=hour + 1), 60.0, 50.0, 12.0, False) for hour in range(24)]
            async with writes() as session, session.begin():
                await ingest.upsert_readings(session, machine_id, rows)

        results["upsert_day"] = await timed(sample, new_day)
        connection = await asyncpg.connect(dsn)
        try:
            started = time.perf_counter()
            await connection.execute("VACUUM (ANALYZE) energy_readings")
            results["vacuum_s"] = time.perf_counter() - started
            heap, index = await connection.fetchrow(
                "SELECT pg_table_size('energy_readings'), pg_indexes_size('energy_readings')"
            )
        finally:
            await connection.close()
        results["bytes_per_machine_year"] = (heap + index) / count
        results["heap_index_mb"] = (heap / 2**20, index / 2**20)
        await engine.dispose()
    return results


def report(all_results: list[dict[str, Any]]) -> None:
    for results in all_results:
        print(f"== {results['size']:,} rows ({results['machines']:,} machines × one year hourly)")
        print(f"   COPY while filling: {results['copy_rate']:,.0f} rows/s")
        heap, index = results["heap_index_mb"]
        print(
            f"   size: heap {heap:,.0f} MB + primary key {index:,.0f} MB;"
            f" {results['bytes_per_machine_year'] / 2**20:.2f} MB per machine-year"
        )
        for key, label in (
            ("training", "training window (365 days, recent_frame)"),
            ("week", "monitoring read (7 days, recent_frame)"),
            ("day", "monitoring read (1 day, recent_frame)"),
            ("latest", "latest_instant"),
            ("aggregate", "fleet reading aggregate, 100 machines (before)"),
            ("stats", "fleet kept reading stats, 100 machines"),
            ("upsert_day", "upsert of one new day (24 rows, API path)"),
        ):
            median, p90 = results[key]
            print(f"   {label:<46} median {median:8.2f} ms   p90 {p90:8.2f} ms")
        print(f"   VACUUM (ANALYZE) after one new day per sampled machine: {results['vacuum_s']:.2f} s")
        print("   plan, training window:")
        print("\n".join(f"     {line}" for line in results["plan_training"]))
        print("   plan, one day:")
        print("\n".join(f"     {line}" for line in results["plan_day"]))


async def run(arguments: argparse.Namespace) -> list[dict[str, Any]]:
    return [await measure(size, arguments) for size in arguments.sizes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 50_000_000], help="rows per run")
    parser.add_argument("--samples", type=int, default=20, help="machines each read is timed on")
    arguments = parser.parse_args()
    report(asyncio.run(run(arguments)))


if __name__ == "__main__":
    main()
