"""Ingest throughput on PostgreSQL: `kilowatch import`, `ingestReadings` over HTTP, and raw COPY.

All three run in one process against one scratch database, so their ratio is meaningful even though
absolute numbers move with the machine's load. Raw COPY (asyncpg ``copy_records_to_table`` into a
table with the same primary key) is the physical limit the other two are compared with.

    python bench/ingest.py [--rows 1000000] [--batch 50000] [--admin-dsn postgresql://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.db.migrate import upgrade_to_head  # noqa: E402
from tests.faults import until_ready  # noqa: E402
from tests.support import ADMIN_DSN, scratch_postgres_database  # noqa: E402

START = datetime(2020, 1, 1, tzinfo=UTC)
INGEST = """mutation($id: UUID!, $readings: [ReadingInput!]!) {
  ingestReadings(machineId: $id, readings: $readings) { inserted updated } }"""


def reading(index: int) -> tuple[datetime, float, float, float, bool]:
    return (START + timedelta(hours=index), 10.0 + index % 7, float(index % 24), 5.0 + index % 10, index % 500 == 0)


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "energy_kwh", "production_units", "outdoor_temp_c", "is_anomaly"])
        for index in range(rows):
            ts, kwh, production, temperature, anomaly = reading(index)
            writer.writerow([ts.isoformat(), kwh, production, temperature, str(anomaly).lower()])


async def raw_copy(dsn: str, rows: int) -> float:
    """COPY into a scratch table identical to energy_readings: columns, primary key and foreign key."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "CREATE TABLE bench_raw_readings (LIKE energy_readings INCLUDING ALL, "
            "FOREIGN KEY (machine_id) REFERENCES machines (id))"
        )
        machine_id = uuid.uuid4()
        await connection.execute(
            "INSERT INTO machines (id, name, created_at) VALUES ($1, 'bench-raw', now())", machine_id
        )
        records = [(machine_id, *reading(index)) for index in range(rows)]
        started = time.perf_counter()
        await connection.copy_records_to_table(
            "bench_raw_readings",
            records=records,
            columns=["machine_id", "ts", "energy_kwh", "production_units", "outdoor_temp_c", "is_anomaly"],
        )
        elapsed = time.perf_counter() - started
        await connection.execute("DROP TABLE bench_raw_readings")
        return rows / elapsed
    finally:
        await connection.close()


def cli_import(database_url: str, rows: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "readings.csv"
        write_csv(path, rows)
        environment = {**os.environ, "KILOWATCH_DATABASE_URL": database_url, "KILOWATCH_LOG_LEVEL": "WARNING"}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "app.cli", "import", str(path), "--machine", "bench-import"],
            check=True,
            env=environment,
            cwd=REPO,
            capture_output=True,
        )
        return rows / (time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def graphql_batches(database_url: str, rows: int, batch: int) -> float:
    port = free_port()
    environment = {
        **os.environ,
        "KILOWATCH_DATABASE_URL": database_url,
        "KILOWATCH_LOG_LEVEL": "WARNING",
        "KILOWATCH_AUTH": "off",  # loopback only; four requests, so a token would change nothing measurable
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=environment,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
            await until_ready(client, timeout_s=20.0)
            created = await client.post(
                "/graphql", json={"query": 'mutation { registerMachine(name: "bench-http") { id } }'}
            )
            machine_id = created.json()["data"]["registerMachine"]["id"]
            bodies = []
            for offset in range(0, rows, batch):
                items = [
                    {
                        "timestamp": ts.isoformat(),
                        "energyKwh": kwh,
                        "productionUnits": production,
                        "outdoorTempC": temperature,
                        "isAnomaly": anomaly,
                    }
                    for ts, kwh, production, temperature, anomaly in map(
                        reading, range(offset, min(offset + batch, rows))
                    )
                ]
                bodies.append(json.dumps({"query": INGEST, "variables": {"id": machine_id, "readings": items}}))
            started = time.perf_counter()
            for body in bodies:
                response = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
                assert "errors" not in response.json(), response.text[:500]
            return rows / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=30)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--http-rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50_000)
    arguments = parser.parse_args()
    print(f"PostgreSQL at {ADMIN_DSN.rsplit('@', 1)[-1]}; {arguments.rows:,} rows (HTTP: {arguments.http_rows:,})")
    async with scratch_postgres_database() as database_url:
        await upgrade_to_head(database_url)
        dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
        raw = await raw_copy(dsn, arguments.rows)
        imported = cli_import(database_url, arguments.rows)
        over_http = await graphql_batches(database_url, arguments.http_rows, arguments.batch)
    print(f"{'path':<40}{'readings/s':>14}{'of raw COPY':>14}")
    for name, rate in [
        ("raw asyncpg COPY (physical limit)", raw),
        ("kilowatch import (end to end)", imported),
        (f"ingestReadings over HTTP ({arguments.batch:,}/call)", over_http),
    ]:
        print(f"{name:<40}{rate:>14,.0f}{rate / raw:>13.0%}")


if __name__ == "__main__":
    asyncio.run(main())
