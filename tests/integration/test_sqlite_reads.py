"""Small reads of the embedded database on the event loop's thread: fresh, read-only, and never stuck."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import sqlite_reads
from app.db.driver_reads import fetch_all
from app.db.engine import create_engine, create_session_factory, read_engine, transaction
from app.db.migrate import upgrade_to_head
from app.services.fleet import machines

ALL_MACHINES = machines._ALL_MACHINES


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kilowatch.db'}"
    await upgrade_to_head(url)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


async def register(engine: AsyncEngine, name: str) -> None:
    async with transaction(create_session_factory(engine)) as session:
        await machines.register(session, name)


async def test_reads_see_every_commit_at_once(engine: AsyncEngine) -> None:
    assert await fetch_all(read_engine(engine), ALL_MACHINES) == []
    assert sqlite_reads.reader(engine) is not None  # the read above ran on the loop's own connection

    await register(engine, "press 2")
    assert [row.name for row in await fetch_all(engine, ALL_MACHINES)] == ["press 2"]

    await register(engine, "oven")
    assert [row.name for row in await fetch_all(engine, ALL_MACHINES)] == ["oven", "press 2"]


async def test_the_loop_threads_connection_cannot_write(engine: AsyncEngine) -> None:
    local = sqlite_reads.reader(engine)
    assert local is not None

    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        local.execute("DELETE FROM machines")


async def test_a_failed_read_is_read_through_the_pool_and_the_next_one_on_a_new_connection(
    engine: AsyncEngine,
) -> None:
    await register(engine, "press 2")
    broken = sqlite_reads.reader(engine)
    assert broken is not None
    broken.close()  # as unusable as a connection can get

    assert [row.name for row in await fetch_all(engine, ALL_MACHINES)] == ["press 2"]

    fresh = sqlite_reads.reader(engine)
    assert fresh is not None and fresh is not broken
    assert sqlite_reads.fetch_all(engine, "SELECT name FROM machines") == [("press 2",)]


async def test_a_locked_database_is_read_through_the_pool_once_the_lock_is_gone(tmp_path: Path) -> None:
    """The loop's connection gives up within milliseconds; the pool's waits, off the loop's thread."""
    path = tmp_path / "kilowatch.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_to_head(url)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")  # in WAL mode, only while no other connection is open
    holder.execute(
        "INSERT INTO machines (id, name, created_at) VALUES (?, 'press 2', '2026-01-01 00:00:00')", (uuid.uuid4().hex,)
    )
    engine = create_engine(url)
    try:
        started = time.monotonic()
        assert sqlite_reads.fetch_all(engine, "SELECT name FROM machines") is None  # busy: left to the pool
        assert time.monotonic() - started < 0.5

        asyncio.get_running_loop().call_later(0.3, holder.close)
        rows = await asyncio.wait_for(fetch_all(engine, ALL_MACHINES), timeout=20)

        assert [row.name for row in rows] == ["press 2"]
    finally:
        await engine.dispose()


async def test_disposing_the_engine_closes_its_readers(engine: AsyncEngine) -> None:
    await fetch_all(engine, ALL_MACHINES)
    local = sqlite_reads.reader(engine)
    assert local is not None

    await engine.dispose()

    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        local.execute("SELECT 1")
    assert sqlite_reads.reader(engine) is not local  # a later read opens the file again


async def test_an_in_memory_database_has_no_reader() -> None:
    memory = create_engine("sqlite+aiosqlite://")
    try:
        assert sqlite_reads.reader(memory) is None
    finally:
        await memory.dispose()
