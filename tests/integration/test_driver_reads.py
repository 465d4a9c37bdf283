"""Reads run by the driver return exactly what SQLAlchemy's own execution returns, on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.driver_reads import _prepared, fetch_all
from app.db.engine import create_engine, read_engine, transaction
from app.db.tables import Machine, MonitoringPolicy
from app.enums import ModelType
from app.runtime.resources import Resources
from app.services.fleet import machines
from app.services.tracking import policies

ALL_MACHINES = machines._ALL_MACHINES


async def test_driver_rows_equal_sqlalchemy_rows_by_position_and_by_name(resources: Resources) -> None:
    async with transaction(resources.sessions) as session:
        for name in ("press 2", "oven", "compressor"):
            await machines.get_or_create(session, name)

    by_driver = await fetch_all(resources.engine, ALL_MACHINES)
    async with resources.engine.connect() as connection:
        by_sqlalchemy = (await connection.execute(ALL_MACHINES)).all()

    assert _prepared(ALL_MACHINES, resources.engine.dialect) is not None  # the driver really ran it
    assert [tuple(row) for row in by_driver] == [tuple(row) for row in by_sqlalchemy]
    assert [row.name for row in by_driver] == ["compressor", "oven", "press 2"]
    assert all(row.created_at.utcoffset() is not None for row in by_driver)  # UTC instants, as SQLAlchemy gives


async def test_enum_and_float_columns_come_back_as_sqlalchemy_returns_them(resources: Resources) -> None:
    """Whether the driver runs it or SQLAlchemy does (asyncpg's float processing needs type codes)."""
    async with transaction(resources.sessions) as session:
        machine = await machines.get_or_create(session, "press 2")
        await policies.update(session, machine.id, ModelType.BASELINE, {"max_cv_rmse": 0.225}, by="tests")
    statement = sa.select(MonitoringPolicy.model_type, MonitoringPolicy.max_cv_rmse, MonitoringPolicy.auto_retrain)

    by_driver = await fetch_all(resources.engine, statement)
    async with resources.engine.connect() as connection:
        by_sqlalchemy = (await connection.execute(statement)).all()

    assert [tuple(row) for row in by_driver] == [tuple(row) for row in by_sqlalchemy]
    assert by_driver[0].model_type is ModelType.BASELINE and by_driver[0].max_cv_rmse == 0.225


async def test_statements_with_parameters_keep_sqlalchemys_path(resources: Resources) -> None:
    async with transaction(resources.sessions) as session:
        machine = await machines.get_or_create(session, "press 2")
    with_parameter = sa.select(Machine.id, Machine.name).where(Machine.name == "press 2")

    found = await fetch_all(resources.engine, with_parameter)

    assert _prepared(with_parameter, resources.engine.dialect) is None
    assert [(row.id, row.name) for row in found] == [(machine.id, "press 2")]


async def test_driver_reads_return_their_connection_to_the_pool(resources: Resources) -> None:
    async with transaction(resources.sessions) as session:
        await machines.get_or_create(session, "press 2")

    async with own_engine(resources) as engine:
        for _ in range(3):
            assert [row.name for row in await fetch_all(engine, ALL_MACHINES)] == ["press 2"]
        assert engine.sync_engine.pool.checkedout() == 0


async def test_a_driver_failure_is_raised_by_sqlalchemy_and_leaves_the_pool_usable(resources: Resources) -> None:
    """A read the driver cannot run is run again by SQLAlchemy, which raises its own error type."""
    missing = sa.select(sa.column("id")).select_from(sa.table("no_such_table"))

    async with own_engine(resources) as engine:
        assert _prepared(missing, engine.dialect) is not None
        with pytest.raises(DBAPIError, match="no_such_table"):
            await fetch_all(engine, missing)
        assert engine.sync_engine.pool.checkedout() == 0
        assert await fetch_all(engine, ALL_MACHINES) == []


@asynccontextmanager
async def own_engine(resources: Resources) -> AsyncIterator[AsyncEngine]:
    """An engine on the test's database whose pool nothing else uses, so its counts are this test's."""
    engine = read_engine(create_engine(resources.settings.database_url))
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_concurrent_identical_reads_share_runs_that_start_after_they_arrived(resources: Resources) -> None:
    """Twenty reads at once: the first runs alone, the nineteen that arrived while it ran share the next run."""
    if resources.engine.dialect.name != "postgresql":
        pytest.skip("on SQLite small reads run on the event loop's thread, one at a time")
    async with resources.engine.begin() as connection:
        await connection.execute(sa.text("CREATE SEQUENCE coalescing_probe"))
    runs = sa.select(sa.literal_column("nextval('coalescing_probe')").label("run"))
    try:
        answers = await asyncio.gather(*(fetch_all(resources.engine, runs) for _ in range(20)))
    finally:
        async with resources.engine.begin() as connection:
            await connection.execute(sa.text("DROP SEQUENCE coalescing_probe"))

    assert sorted(rows[0].run for rows in answers) == [1] + [2] * 19


async def test_a_read_sees_a_write_committed_while_an_identical_read_ran(resources: Resources) -> None:
    if resources.engine.dialect.name != "postgresql":
        pytest.skip("on SQLite small reads run on the event loop's thread, one at a time")
    async with transaction(resources.sessions) as session:
        await machines.register(session, "early")  # pg_sleep below runs once per row: one row, 0.3 s
    slow = sa.select(Machine.name, sa.literal_column("(SELECT 1 FROM pg_sleep(0.3))").label("slept")).order_by(
        Machine.name
    )
    earlier = asyncio.create_task(fetch_all(resources.engine, slow))
    await asyncio.sleep(0.1)  # under way

    async with transaction(resources.sessions) as session:
        await machines.register(session, "late")
    later = await fetch_all(resources.engine, slow)

    assert [row.name for row in await earlier] == ["early"]  # it began before the commit
    assert [row.name for row in later] == ["early", "late"]
