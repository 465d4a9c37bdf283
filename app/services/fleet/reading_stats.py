"""Per-machine reading statistics (count, first and last instant), kept by the transaction that writes readings.

Counting a machine's readings means visiting every entry of its primary-key range: ~8,760 a year
per machine, so the fleet page's counts for 100 machines cost 0.4–1.9 s on a busy host (see
docs/scaling.md). Every write to ``energy_readings`` goes through ``ingest.upsert_readings`` (the API's
``ingestReadings``, ``kilowatch import``, the demo), which calls ``record_batch`` in the same
transaction; readings are never deleted except with their machine, whose row cascades with it.
Migration 0006 backfilled the table from the readings stored before it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import dialect_insert
from app.db.tables import MachineReadingStats, core_table

_STATS = core_table(MachineReadingStats)


@dataclass(frozen=True, slots=True)
class ReadingStats:
    count: int
    first_at: datetime | None
    last_at: datetime | None


NO_READINGS = ReadingStats(0, None, None)


async def record_batch(
    session: AsyncSession, machine_id: uuid.UUID, inserted: int, first: datetime, last: datetime
) -> None:
    """Account for one written batch of a machine: ``inserted`` new readings, instants from ``first`` to ``last``.

    One upsert, set-based: an updated reading changes no count, and a batch's instants widen the span
    only where they lie outside it. Writers of one machine are serialised by the ingest's lock (SQLite
    has a single writer), and the row lock of the upsert orders any others.
    """
    insert = dialect_insert(session)(_STATS).values(
        machine_id=machine_id, reading_count=inserted, first_reading_at=first, last_reading_at=last
    )
    new = insert.excluded
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[_STATS.c.machine_id],
            set_={
                "reading_count": _STATS.c.reading_count + new.reading_count,
                "first_reading_at": sa.case(
                    (new.first_reading_at < _STATS.c.first_reading_at, new.first_reading_at),
                    else_=_STATS.c.first_reading_at,
                ),
                "last_reading_at": sa.case(
                    (new.last_reading_at > _STATS.c.last_reading_at, new.last_reading_at),
                    else_=_STATS.c.last_reading_at,
                ),
            },
        )
    )


async def of_machines(session: AsyncSession, machine_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ReadingStats]:
    """Every given machine's statistics; a machine without readings has none stored and gets ``NO_READINGS``."""
    rows = await session.execute(
        sa.select(
            _STATS.c.machine_id, _STATS.c.reading_count, _STATS.c.first_reading_at, _STATS.c.last_reading_at
        ).where(_STATS.c.machine_id.in_(machine_ids))
    )
    found = {machine_id: ReadingStats(count, first, last) for machine_id, count, first, last in rows}
    return {machine_id: found.get(machine_id, NO_READINGS) for machine_id in machine_ids}


async def last_readings(session: AsyncSession) -> dict[uuid.UUID, datetime]:
    """Every machine's newest reading instant (machines without readings are absent)."""
    rows = await session.execute(sa.select(_STATS.c.machine_id, _STATS.c.last_reading_at))
    return {machine_id: last for machine_id, last in rows if last is not None}
