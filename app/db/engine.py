"""Async engine and session factory for PostgreSQL (asyncpg) and SQLite (aiosqlite).

Sessions are short-lived: each resolver, DataLoader batch or task opens its own, because sibling
async resolvers run concurrently and an ``AsyncSession`` must never be shared between them.

Connection liveness (PostgreSQL). ``pool_pre_ping`` costs three round trips on every checkout with
asyncpg (BEGIN, ping, ROLLBACK: ~0.8 ms of a ~1.5 ms read, measured here), so it is replaced by
SQLAlchemy's two documented disconnect mechanisms, used together:

- *pessimistic, for idle connections only*: a connection that has sat in the pool for more than
  ``IDLE_PING_S`` is pinged on checkout, and a failed ping raises ``InvalidatePoolError``, which makes
  the pool reconnect it and drop every connection older than the failure. A restart of the server
  takes longer than ``IDLE_PING_S``, so every connection that lived through one is pinged before use;
- *optimistic, for the rest*: a statement that fails with a disconnect error invalidates the whole
  pool, so the requests after it get fresh connections.

A busy pool, whose connections come back within milliseconds, therefore never pings, and a
PostgreSQL restart costs what it cost with ``pool_pre_ping``: the requests that were running, or
that arrive while the server is down, fail; the ones after it succeed without a process restart.

SQLite is a local file that cannot "disconnect", so it is never pinged; each aiosqlite call is a
round trip through the connection's thread, which is what every avoided call saves there.

Writers on SQLite (one at a time is SQLite's model). Left alone, concurrent write transactions failed
at once with ``database is locked``: a transaction that had read (or filled a temporary table) before
its first write cannot take the write lock once another writer committed, and SQLite then refuses
without consulting its busy timeout. So, for contention to mean waiting:

- every transaction the driver opens before a write is ``BEGIN IMMEDIATE``: it takes the write lock
  first, where the busy timeout applies (this is what another process, ``kilowatch import`` say, meets);
- within the process, ``transaction`` lets one write transaction in at a time, in arrival order, through
  an asyncio lock per engine, so writers queue without polling the file and without a time limit.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, PoolResetState

SessionFactory = async_sessionmaker[AsyncSession]

#: A pooled PostgreSQL connection unused for longer than this is pinged before it is handed out.
IDLE_PING_S = 1.0
_CHECKED_IN_AT = "kilowatch_checked_in_at"
#: Longest a SQLite connection waits for another process's write lock before failing.
BUSY_TIMEOUT_S = 30
#: One lock per SQLite engine: this process's write transactions on that file, one at a time (module docstring).
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, asyncio.Lock] = weakref.WeakKeyDictionary()


def create_engine(database_url: str, **overrides: Any) -> AsyncEngine:
    url = make_url(database_url)
    is_sqlite = url.get_backend_name() == "sqlite"
    options: dict[str, Any] = {}
    if is_sqlite:
        # One writer at a time is SQLite's model (module docstring): the driver's implicit BEGIN before a
        # write takes the write lock at once, and a generous busy timeout turns contention into waiting.
        # Returned connections are rolled back only when a transaction is open (``_roll_back_if_open``).
        options.update(
            connect_args={"timeout": BUSY_TIMEOUT_S, "isolation_level": "IMMEDIATE"}, pool_reset_on_return=None
        )
    else:
        # At most 30 connections, as before, but all of them kept: overflow connections are closed as soon
        # as they are returned, so with pool_size=10, max_overflow=20 a busy process opened and closed
        # PostgreSQL connections all the time (measured here under 32 concurrent requests: ~5 a second,
        # each costing more than the query). The pool opens connections only when they are needed.
        # LIFO hands out the connection used last, so under light load the others stay idle (and are
        # pinged on their next use) instead of every connection being touched in turn.
        options.update(pool_size=30, max_overflow=0, pool_use_lifo=True)
    options.update(overrides)
    engine = create_async_engine(url, **options)
    if is_sqlite:
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        event.listen(engine.sync_engine, "reset", _roll_back_if_open)
    elif not options.get("pool_pre_ping"):
        _ping_idle_connections(engine, IDLE_PING_S)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _roll_back_if_open(dbapi_connection: Any, _record: ConnectionPoolEntry, state: PoolResetState) -> None:
    """SQLite's reset on return: roll back only a connection that holds a transaction.

    The sqlite3 driver opens a transaction only before a write, so a connection that served reads
    holds none, and rolling it back anyway cost a round trip through aiosqlite's thread on every read
    (SQLAlchemy's documented custom-reset scheme: ``pool_reset_on_return=None`` plus this event).
    ``in_transaction`` is read from the driver connection without such a round trip. As for SQLAlchemy's
    own reset, nothing is done where asyncio cannot run (a connection collected outside the event loop).
    """
    if state.asyncio_safe and dbapi_connection.driver_connection.in_transaction:
        dbapi_connection.rollback()


def _ping_idle_connections(engine: AsyncEngine, idle_s: float) -> None:
    """Ping a connection on checkout only when it has been idle for more than ``idle_s`` (see module docstring)."""
    pool = engine.sync_engine.pool
    dialect: Dialect = engine.sync_engine.dialect

    def checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    def checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        checked_in_at = record.info.pop(_CHECKED_IN_AT, None)
        if checked_in_at is None or time.monotonic() - checked_in_at <= idle_s:
            return  # fresh from connect(), or just used
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure: the pool reconnects, or raises if the server is still down
            raise exc.InvalidatePoolError(f"idle connection failed its ping: {error}") from error

    event.listen(pool, "checkin", checkin)
    event.listen(pool, "checkout", checkout)


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def read_engine(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` as single-statement reads should use it: every read the API serves is one statement.

    On PostgreSQL that is autocommit, which saves the BEGIN and ROLLBACK round trips. On SQLite the
    engine as it is: the driver opens transactions only before writes, so a read already runs without
    BEGIN, while switching the isolation level would cost two more calls through aiosqlite's thread.
    """
    return engine if engine.dialect.name == "sqlite" else engine.execution_options(isolation_level="AUTOCOMMIT")


def create_read_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions for single-statement reads (resolvers and DataLoader batches); see ``read_engine``."""
    return async_sessionmaker(read_engine(engine), expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session whose work commits on success and rolls back whole on any error.

    On SQLite it waits for the process's previous write transactions to end first (module docstring);
    a transaction must therefore not open another one inside it.
    """
    async with writer_turn(sessions), sessions() as session, session.begin():
        yield session


def writer_turn(sessions: SessionFactory) -> AbstractAsyncContextManager[object]:
    """On SQLite, this process's turn to write (module docstring), held from a write transaction's start to its end.

    Elsewhere nothing: PostgreSQL runs writers side by side. A write transaction opened without
    ``transaction`` (one whose commit waits for more work) holds this for as long as it is open.
    """
    engine: AsyncEngine = sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        return nullcontext()
    lock = _WRITE_LOCKS.get(engine.sync_engine)
    if lock is None:
        lock = _WRITE_LOCKS[engine.sync_engine] = asyncio.Lock()
    return lock


async def changed_rows(session: AsyncSession, statement: Executable) -> int:
    """How many rows an UPDATE or DELETE matched: a guarded update that matched none lost a race.

    ``AsyncSession.execute`` is typed as returning a ``Result``; for DML it is a ``CursorResult``.
    """
    return cast(CursorResult[Any], await session.execute(statement)).rowcount


async def copy_records(
    session: AsyncSession, table: str, columns: Sequence[str], records: Iterable[Sequence[Any]]
) -> None:
    """Stream ``records`` into ``table`` with PostgreSQL's COPY (asyncpg), inside the session's transaction."""
    raw = await (await session.connection()).get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None  # a checked-out connection holds its driver connection
    await driver.copy_records_to_table(table, records=records, columns=list(columns))


def dialect_insert(session: AsyncSession) -> Any:
    """The dialect's ``insert`` construct, which has ``on_conflict_do_*`` on both PostgreSQL and SQLite."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
