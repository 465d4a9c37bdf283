"""Per-machine reading statistics stay equal to the aggregate over the readings, whatever wrote them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command

from app.db.engine import create_engine, transaction
from app.db.migrate import alembic_config, upgrade_to_head
from app.db.tables import EnergyReading, Machine, MachineReadingStats
from app.runtime.resources import Resources
from tests.integration.test_cli_import import HEADER, run_import
from tests.support import data_of, graphql, scratch_postgres_database

INGEST = """mutation($id: UUID!, $readings: [ReadingInput!]!) {
  ingestReadings(machineId: $id, readings: $readings) { inserted updated } }"""
START = datetime(2025, 6, 1, tzinfo=UTC)

#: What the fleet page computed before the statistics were kept: an aggregate over every reading.
AGGREGATE = sa.select(
    EnergyReading.machine_id, sa.func.count(), sa.func.min(EnergyReading.ts), sa.func.max(EnergyReading.ts)
).group_by(EnergyReading.machine_id)
KEPT = sa.select(
    MachineReadingStats.machine_id,
    MachineReadingStats.reading_count,
    MachineReadingStats.first_reading_at,
    MachineReadingStats.last_reading_at,
)


def _aware(value: datetime) -> datetime:
    """SQLite's MIN and MAX of a timestamp column come back naive (UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _both(resources: Resources) -> tuple[dict[uuid.UUID, tuple[int, datetime, datetime]], ...]:
    async with resources.reads() as session:
        aggregate = {row[0]: (row[1], _aware(row[2]), _aware(row[3])) for row in await session.execute(AGGREGATE)}
        kept = {row[0]: (row[1], row[2], row[3]) for row in await session.execute(KEPT)}
    return aggregate, kept


async def assert_kept(resources: Resources) -> dict[uuid.UUID, tuple[int, datetime, datetime]]:
    aggregate, kept = await _both(resources)
    assert kept == aggregate
    return kept


def _readings(hours: range, kwh: float = 10.0) -> list[dict[str, object]]:
    return [
        {"timestamp": (START + timedelta(hours=hour)).isoformat(), "energyKwh": kwh, "outdoorTempC": 5.0}
        for hour in hours
    ]


async def _ingest(client: httpx.AsyncClient, machine_id: str, hours: range, kwh: float = 10.0) -> dict[str, int]:
    return data_of(await graphql(client, INGEST, {"id": machine_id, "readings": _readings(hours, kwh)}))[
        "ingestReadings"
    ]


async def _machine(client: httpx.AsyncClient, name: str) -> str:
    result = await graphql(client, "mutation($n: String!) { registerMachine(name: $n) { id } }", {"n": name})
    return data_of(result)["registerMachine"]["id"]


async def test_ingest_upserts_and_earlier_history_keep_the_statistics(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    press, oven = await _machine(client, "press"), await _machine(client, "oven")
    assert await assert_kept(resources) == {}  # a machine without readings has no row

    assert await _ingest(client, press, range(100, 200)) == {"inserted": 100, "updated": 0}
    await _ingest(client, oven, range(0, 10))
    kept = await assert_kept(resources)
    assert kept[uuid.UUID(press)] == (100, START + timedelta(hours=100), START + timedelta(hours=199))

    # Re-sending stored instants (the staging path's ON CONFLICT DO UPDATE) changes values, not the count.
    assert await _ingest(client, press, range(150, 200), kwh=20.0) == {"inserted": 0, "updated": 50}
    # Overlapping on both sides, and older history arriving later, widen the span.
    assert await _ingest(client, press, range(190, 260)) == {"inserted": 60, "updated": 10}
    assert await _ingest(client, press, range(0, 50)) == {"inserted": 50, "updated": 0}
    # A batch inside a gap of the stored span: new readings, no change of first or last.
    assert await _ingest(client, press, range(60, 70)) == {"inserted": 10, "updated": 0}
    kept = await assert_kept(resources)
    assert kept[uuid.UUID(press)] == (220, START, START + timedelta(hours=259))

    stats = data_of(
        await graphql(client, "query($id: UUID!) { machine(id: $id) { readingsCount firstReadingAt } }", {"id": press})
    )["machine"]
    assert stats == {"readingsCount": 220, "firstReadingAt": START.isoformat()}


async def test_csv_import_keeps_the_statistics(database_url: str, resources: Resources, tmp_path: Path) -> None:
    machine = f"line-{uuid.uuid4().hex[:6]}"
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(HEADER + "".join(f"2026-03-01T{hour:02d}:00:00Z,{10 + hour},1,5,false\n" for hour in range(24)))
    # The second file re-sends the afternoon and adds the next morning: 12 updated, 12 new.
    second.write_text(
        HEADER
        + "".join(f"2026-03-01T{hour:02d}:00:00Z,{20 + hour},1,5,false\n" for hour in range(12, 24))
        + "".join(f"2026-03-02T{hour:02d}:00:00Z,{20 + hour},1,5,false\n" for hour in range(12))
    )
    for path in (first, second):
        assert run_import(database_url, path, machine).returncode == 0
    kept = await assert_kept(resources)
    assert list(kept.values()) == [
        (36, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, 11, tzinfo=UTC)),
    ]


async def test_deleting_a_machine_deletes_its_statistics(client: httpx.AsyncClient, resources: Resources) -> None:
    press, oven = await _machine(client, "press"), await _machine(client, "oven")
    await _ingest(client, press, range(0, 5))
    await _ingest(client, oven, range(0, 7))
    async with transaction(resources.sessions) as session:
        await session.execute(sa.delete(Machine).where(Machine.id == uuid.UUID(press)))
    assert set(await assert_kept(resources)) == {uuid.UUID(oven)}


@pytest.fixture
async def blank_database_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of the same kind as ``database_url``, not yet migrated."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'before.db'}"
    else:
        async with scratch_postgres_database() as url:
            yield url


async def test_migration_backfills_the_statistics_of_stored_readings(blank_database_url: str) -> None:
    engine = create_engine(blank_database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: _upgrade_to(sync, blank_database_url, "0005"))
            machines = [uuid.uuid4(), uuid.uuid4(), uuid.uuid4()]
            await connection.execute(
                sa.insert(Machine),
                [{"id": mid, "name": f"m{n}", "created_at": START} for n, mid in enumerate(machines)],
            )
            await connection.execute(
                sa.insert(EnergyReading),
                [
                    {"machine_id": mid, "ts": START + timedelta(hours=hour), "energy_kwh": 1.0}
                    for index, mid in enumerate(machines[:2])
                    for hour in range(index * 5, 20 + index * 30)
                ],
            )
        await upgrade_to_head(blank_database_url)
        async with engine.connect() as connection:
            aggregate = {r[0]: (r[1], _aware(r[2]), _aware(r[3])) for r in await connection.execute(AGGREGATE)}
            kept = {r[0]: tuple(r[1:]) for r in await connection.execute(KEPT)}
        assert kept == aggregate
        assert set(kept) == set(machines[:2])
    finally:
        await engine.dispose()


def _upgrade_to(connection: sa.Connection, database_url: str, revision: str) -> None:
    config = alembic_config(database_url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
