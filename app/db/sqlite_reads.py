"""Small reads of the embedded SQLite database, run on the event loop's own thread.

aiosqlite runs every call in a thread of its connection and hands the result back to the event loop.
Under concurrent requests those hand-offs, not the reads, bound the embedded server: a
``{ machines { id name } }`` request cost the same CPU time on SQLite as on PostgreSQL when run alone
(~650 µs in-process), yet the server answered 830-970 requests/s on SQLite against ~1,550 on
PostgreSQL under 32 concurrent clients (bench/query.py). A read of a few rows from a local file takes
microseconds, less than one such hand-off, so ``app.db.driver_reads`` runs them here, on a connection
of its own:

- opened read-only (``mode=ro``), so it can never write, in autocommit, so each statement sees every
  transaction committed before it; in WAL mode (``app.db.engine``) readers and the writer do not wait for
  each other;
- one per database file and thread, since a ``sqlite3`` connection belongs to the thread that opened
  it; closed when an engine on that file is disposed;
- with a short busy timeout: the rare read that would have to wait (while the WAL is being reset)
  fails instead, and the caller reads through the pool, where waiting blocks no one; a connection
  whose read failed is closed, and the next read opens a new one.

Only for reads known to be small: a long scan here would hold up every request of the process.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from functools import cache, partial
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

#: Seconds a read waits for a lock before failing, so that the caller reads through the pool instead.
BUSY_TIMEOUT_S = 0.005

_READERS: dict[tuple[Path, int], sqlite3.Connection] = {}
_WATCHED: weakref.WeakSet[Engine] = weakref.WeakSet()


def reader(engine: AsyncEngine) -> sqlite3.Connection | None:
    """This thread's read-only connection to ``engine``'s database file, or ``None`` where there is none.

    ``None`` for an in-memory database (each connection has its own) and for a file that cannot be
    opened read-only (for instance not created yet).
    """
    path = _file_of(engine.url.database)
    if path is None:
        return None
    key = (path, threading.get_ident())
    connection = _READERS.get(key)
    if connection is None:
        try:
            connection = sqlite3.connect(
                f"{path.as_uri()}?mode=ro",
                uri=True,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,  # used by its own thread only; closed by whichever disposes the engine
            )
        except sqlite3.Error:
            return None
        _READERS[key] = connection
        _close_on_dispose(engine.sync_engine, path)
    return connection


@cache
def _file_of(database: str | None) -> Path | None:
    """The absolute path of a database file; resolved once, since resolving asks the file system."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


def fetch_all(engine: AsyncEngine, sql: str) -> list[Any] | None:
    """The rows of ``sql`` read on this thread, or ``None`` if they could not be: read them through the pool.

    A connection that failed is closed and forgotten, so that the next read opens a fresh one.
    """
    connection = reader(engine)
    if connection is None:
        return None
    try:
        return connection.execute(sql).fetchall()
    except sqlite3.Error:
        _forget(connection)
        return None


def _close_on_dispose(engine: Engine, path: Path) -> None:
    if engine not in _WATCHED:
        _WATCHED.add(engine)
        event.listen(engine, "engine_disposed", partial(_close_readers, path))


def _close_readers(path: Path, _engine: Engine) -> None:
    """A disposed engine's file may be deleted or replaced next; the next read opens it again."""
    for key in [key for key in _READERS if key[0] == path]:
        _READERS.pop(key).close()


def _forget(connection: sqlite3.Connection) -> None:
    for key in [key for key, known in _READERS.items() if known is connection]:
        del _READERS[key]
    connection.close()
