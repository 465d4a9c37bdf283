"""Hot parameterless reads run by the database driver itself, on SQL that SQLAlchemy compiled once.

SQLAlchemy's execution path (the DBAPI adapter's cursor emulation, result objects, events) cost
~130 µs of a ~540 µs ``{ machines { id name } }`` request on PostgreSQL, measured in-process here:
more than the rest of the resolver; on SQLite each adapter call is also a round trip through
aiosqlite's thread. For a statement built once at import, this compiles it once per dialect, keeps
SQLAlchemy's result processors of its columns (so values come back exactly as SQLAlchemy returns
them: UUIDs, UTC datetimes) and sends the SQL through a driver connection checked out of
SQLAlchemy's pool: one asyncpg ``fetch``, or one aiosqlite ``execute_fetchall`` (on SQLite, where it can,
on the event loop's thread instead: ``app.db.sqlite_reads``). The connection is
taken from the pool as it is, without the ``Connection`` object SQLAlchemy wraps around it (its
construction, execution options and close cost another ~75 µs of the same request): a single
statement sent by the driver outside any transaction is what the read engine's autocommit gives, and
the pool's own checkout and checkin events (the idle ping of ``app.db.engine``, SQLite's reset) still run.

Concurrent reads of the same statement through the pool share one run that starts after all of them
arrived (``app.db.coalescing``): each still sees every write committed before it asked.

A statement that takes parameters, or whose column types need the driver's type codes to process
results, keeps SQLAlchemy's path, and so does the read again when the driver fails, so that
SQLAlchemy classifies the error. Either way callers get tuples whose fields are also readable by
column name.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util.concurrency import greenlet_spawn

from app.db import sqlite_reads
from app.db.coalescing import Coalescer

_DRIVER_FETCH: dict[str, Callable[[Any, str], Any]] = {
    "asyncpg": lambda driver, sql: driver.fetch(sql),
    "aiosqlite": lambda driver, sql: driver.execute_fetchall(sql),
}


@dataclass(frozen=True)
class _Prepared:
    sql: str
    processors: tuple[Callable[[Any], Any] | None, ...]
    #: Builds one named row from a record (a namedtuple's ``_make``).
    make_row: Callable[[Iterable[Any]], tuple[Any, ...]]

    def rows(self, records: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        make, processors = self.make_row, self.processors
        if not any(processors):
            return [make(record) for record in records]
        return [
            make(
                [
                    value if process is None else process(value)
                    for process, value in zip(processors, record, strict=True)
                ]
            )
            for record in records
        ]


#: Concurrent reads of one statement on one engine share a run through the pool (``app.db.coalescing``).
_COALESCER = Coalescer()

#: A SELECT of any columns (``Select`` is generic over the tuple of its column types).
AnySelect = sa.Select[*tuple[Any, ...]]

#: Per statement object and dialect class: callers pass statements built once at import.
_PREPARED: dict[tuple[AnySelect, type[Dialect]], _Prepared | None] = {}


def _prepared(statement: AnySelect, dialect: Dialect) -> _Prepared | None:
    key = (statement, type(dialect))
    if key not in _PREPARED:
        _PREPARED[key] = _prepare(statement, dialect)
    return _PREPARED[key]


def _prepare(statement: AnySelect, dialect: Dialect) -> _Prepared | None:
    """``statement`` compiled for ``dialect``, or ``None`` where SQLAlchemy's path must run it."""
    compiled = statement.compile(dialect=dialect)
    if compiled.params:
        return None
    columns = list(statement.selected_columns)
    try:
        processors = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
    except (TypeError, ValueError, KeyError):  # the processor needs the driver's type code of the column
        return None
    # The fields are known at run time only: mypy types namedtuple() from literal field lists alone.
    row_type: Any = namedtuple("Row", [str(column.key) for column in columns])  # type: ignore[misc]
    return _Prepared(compiled.string, processors, row_type._make)


async def fetch_all(engine: AsyncEngine, statement: AnySelect) -> Sequence[Any]:
    """Every row of a read ``statement``; see the module docstring for when the driver runs it."""
    dialect = engine.dialect
    fetch = _DRIVER_FETCH.get(dialect.driver)
    prepared = _prepared(statement, dialect) if fetch is not None else None
    if fetch is None or prepared is None:
        return await _through_sqlalchemy(engine, statement)
    if dialect.driver == "aiosqlite" and (local := sqlite_reads.fetch_all(engine, prepared.sql)) is not None:
        return prepared.rows(local)
    shared = await _COALESCER.read((engine, statement), lambda: _through_the_pool(engine, statement, prepared, fetch))
    return list(shared)  # each caller's own list: the rows themselves are immutable tuples


async def _through_the_pool(
    engine: AsyncEngine, statement: AnySelect, prepared: _Prepared, fetch: Callable[[Any, str], Any]
) -> Sequence[Any]:
    pooled = await engine.raw_connection()
    try:
        records = await fetch(pooled.driver_connection, prepared.sql)
    except Exception:  # noqa: BLE001 - SQLAlchemy decides what it was: see below
        # The driver's error bypassed SQLAlchemy, which would have recognised a lost connection and
        # invalidated the pool (app.db.engine relies on that). Running the read again through SQLAlchemy
        # raises the error its own way, or answers if the failure was transient.
        records = None
    finally:
        await greenlet_spawn(pooled.close)  # back to the pool; closing a broken connection may await
    if records is None:
        return await _through_sqlalchemy(engine, statement)
    return prepared.rows(records)


async def _through_sqlalchemy(engine: AsyncEngine, statement: AnySelect) -> Sequence[Any]:
    async with engine.connect() as connection:
        return (await connection.execute(statement)).all()
