"""Bulk upsert of energy readings, all-or-nothing.

Writers to one machine's readings are serialised by a transaction-scoped advisory lock on PostgreSQL
(SQLite has a single writer anyway). Under it:

- a batch whose time range holds no stored reading of the machine is COPYed straight into
  ``energy_readings`` — the common case of new data, at the speed of raw COPY;
- any other batch goes to a temporary staging table (PostgreSQL: binary COPY; SQLite: one
  executemany) and one set-based ``INSERT … SELECT … ON CONFLICT (machine_id, ts) DO UPDATE`` merges it.

The machine's reading statistics (``reading_stats``) are updated in the same transaction.

Measured on 1M rows: ``INSERT … SELECT`` takes ~3.3 s, the same with ``ON CONFLICT DO UPDATE`` ~9.9 s
(speculative insertion per row), raw COPY ~4.6 s — hence the fast path. Re-sending a batch updates
instead of duplicating, and a failure anywhere rolls the whole batch back with the caller's transaction.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.column_types import UtcDateTime
from app.db.engine import copy_records
from app.db.tables import EnergyReading
from app.errors import InvalidInput
from app.services.fleet import reading_stats

STAGING_TABLE = "reading_staging"
READING_FIELDS = ("ts", "energy_kwh", "production_units", "outdoor_temp_c", "is_anomaly")
#: Physically plausible outdoor temperatures; anything outside is a unit or sensor error.
OUTDOOR_TEMP_RANGE_C = (-90.0, 70.0)
#: Rows per COPY / executemany round trip; bounds memory and drives the import progress bar.
CHUNK_SIZE = 20_000

ReadingRow = tuple[datetime, float, float | None, float | None, bool | None]

_staging = sa.Table(
    STAGING_TABLE,
    sa.MetaData(),
    sa.Column("machine_id", sa.Uuid),
    sa.Column("ts", UtcDateTime()),
    sa.Column("energy_kwh", sa.Float),
    sa.Column("production_units", sa.Float),
    sa.Column("outdoor_temp_c", sa.Float),
    sa.Column("is_anomaly", sa.Boolean),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


@dataclass(frozen=True)
class IngestResult:
    machine_id: uuid.UUID
    inserted: int
    updated: int


def check_reading(row: ReadingRow, where: str) -> None:
    """Validate one row; ``where`` says how to point at it (``readings[12]`` or ``line 14``)."""
    ts, energy_kwh, production_units, outdoor_temp_c, _ = row
    if ts.utcoffset() is None:
        raise InvalidInput(f"{where}: timestamp must include a UTC offset", field=f"{where}.timestamp")
    if not math.isfinite(energy_kwh) or energy_kwh < 0:
        raise InvalidInput(
            f"{where}: energyKwh must be a finite number ≥ 0, got {energy_kwh!r}", field=f"{where}.energyKwh"
        )
    if production_units is not None and (not math.isfinite(production_units) or production_units < 0):
        raise InvalidInput(
            f"{where}: productionUnits must be a finite number ≥ 0, got {production_units!r}",
            field=f"{where}.productionUnits",
        )
    low, high = OUTDOOR_TEMP_RANGE_C
    if outdoor_temp_c is not None and not (math.isfinite(outdoor_temp_c) and low <= outdoor_temp_c <= high):
        raise InvalidInput(
            f"{where}: outdoorTempC must be between {low:g} and {high:g} °C, got {outdoor_temp_c!r}",
            field=f"{where}.outdoorTempC",
        )


def latest_accepted(future_tolerance_s: float, now: datetime | None = None) -> datetime:
    """The latest timestamp ingest accepts: now plus the clock-skew tolerance."""
    return (now or datetime.now(UTC)) + timedelta(seconds=future_tolerance_s)


def check_not_future(ts: datetime, latest: datetime, where: str) -> None:
    """A reading from the future is a meter clock or time-zone error; stored, it would pass for the newest data."""
    if ts > latest:
        raise InvalidInput(
            f"{where}: timestamp {ts.isoformat()} lies in the future (later than {latest.isoformat()}, "
            "now plus the clock-skew tolerance); check the meter's clock and time zone",
            field=f"{where}.timestamp",
        )


def check_batch(rows: Sequence[ReadingRow], label: Callable[[int], str], latest: datetime) -> None:
    """Every row valid, none beyond ``latest`` and no instant twice (a duplicate is ambiguous), else refused."""
    first_seen: dict[datetime, int] = {}
    for index, row in enumerate(rows):
        check_reading(row, label(index))
        check_not_future(row[0], latest, label(index))
        if (earlier := first_seen.setdefault(row[0], index)) != index:
            raise InvalidInput(
                f"{label(index)}: timestamp {row[0].isoformat()} repeats {label(earlier)}",
                field=f"{label(index)}.timestamp",
            )


async def upsert_readings(
    session: AsyncSession,
    machine_id: uuid.UUID,
    rows: Sequence[ReadingRow],
    on_progress: Callable[[int], None] | None = None,
    *,
    time_range: tuple[datetime, datetime] | None = None,
) -> IngestResult:
    """Write already-validated rows; ``on_progress`` receives written row counts.

    ``time_range`` (first and last instant), when the caller knows it, spares a pass over ``rows``,
    which may convert rows to Python objects only as they are read (``csv_readings.ParsedReadings``).
    """
    if not rows:
        return IngestResult(machine_id=machine_id, inserted=0, updated=0)
    connection = await session.connection()
    postgres = connection.dialect.name == "postgresql"
    first, last = time_range or (min(row[0] for row in rows), max(row[0] for row in rows))
    if postgres:
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(machine_id))))
        target = STAGING_TABLE if await _overlaps_stored(session, machine_id, first, last) else "energy_readings"
        if target == STAGING_TABLE:
            await connection.run_sync(lambda sync: _staging.create(sync))
        await _copy(session, target, machine_id, rows, on_progress)
        if target == "energy_readings":
            await reading_stats.record_batch(session, machine_id, len(rows), first, last)
            return IngestResult(machine_id=machine_id, inserted=len(rows), updated=0)
    else:
        await connection.run_sync(lambda sync: _staging.create(sync))
        for chunk in _chunks(rows, CHUNK_SIZE):
            await session.execute(
                _staging.insert(),
                [dict(zip(("machine_id", *READING_FIELDS), (machine_id, *row), strict=True)) for row in chunk],
            )
            if on_progress is not None:
                on_progress(len(chunk))
    existing = await session.scalar(
        sa.text(
            f"SELECT count(*) FROM {STAGING_TABLE} s JOIN energy_readings r "
            "ON r.machine_id = s.machine_id AND r.ts = s.ts"
        )
    )
    columns = ", ".join(("machine_id", *READING_FIELDS))
    updates = ", ".join(f"{name} = excluded.{name}" for name in READING_FIELDS[1:])
    # "WHERE true" keeps SQLite's parser from reading ON CONFLICT as a join constraint.
    await session.execute(
        sa.text(
            f"INSERT INTO energy_readings ({columns}) SELECT {columns} FROM {STAGING_TABLE} WHERE true "
            f"ON CONFLICT (machine_id, ts) DO UPDATE SET {updates}"
        )
    )
    if not postgres:  # PostgreSQL drops it at commit (ON COMMIT DROP)
        await connection.run_sync(lambda sync: _staging.drop(sync))
    existing = int(existing or 0)
    await reading_stats.record_batch(session, machine_id, len(rows) - existing, first, last)
    return IngestResult(machine_id=machine_id, inserted=len(rows) - existing, updated=existing)


def _lock_key(machine_id: uuid.UUID) -> int:
    """A signed 64-bit advisory lock key derived from the machine id."""
    return int.from_bytes(machine_id.bytes[:8], "big", signed=True)


async def _overlaps_stored(session: AsyncSession, machine_id: uuid.UUID, first: datetime, last: datetime) -> bool:
    found = await session.scalar(
        sa.select(sa.literal(1))
        .where(EnergyReading.machine_id == machine_id, EnergyReading.ts >= first, EnergyReading.ts <= last)
        .limit(1)
    )
    return found is not None


async def _copy(
    session: AsyncSession,
    table: str,
    machine_id: uuid.UUID,
    rows: Sequence[ReadingRow],
    on_progress: Callable[[int], None] | None,
) -> None:
    """One COPY stream: asyncpg encodes the next rows while the server ingests the previous ones."""
    await copy_records(session, table, ["machine_id", *READING_FIELDS], _records(machine_id, rows, on_progress))


def _records(
    machine_id: uuid.UUID, rows: Sequence[ReadingRow], on_progress: Callable[[int], None] | None
) -> Iterator[tuple[object, ...]]:
    prefix = (machine_id,)
    for chunk in _chunks(rows, CHUNK_SIZE):
        yield from map(prefix.__add__, chunk)
        if on_progress is not None:
            on_progress(len(chunk))


def _chunks(rows: Sequence[ReadingRow], size: int) -> Iterable[Sequence[ReadingRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
