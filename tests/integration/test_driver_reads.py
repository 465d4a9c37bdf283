"""Reads run by the driver return exactly what SQLAlchemy's own execution returns, on both databases."""

from __future__ import annotations

import sqlalchemy as sa

from app.db import transaction
from app.driver_reads import _prepared, fetch_all
from app.enums import ModelType
from app.resources import Resources
from app.services import machines, policies
from app.tables import Machine, MonitoringPolicy

ALL_MACHINES = machines._ALL_MACHINES


async def test_driver_rows_equal_sqlalchemy_rows_by_position_and_by_name(resources: Resources) -> None:
    async with transaction(resources.sessions) as session:
        for name in ("press 2", "oven", "compressor"):
            await machines.get_or_create(session, name)

    async with resources.engine.connect() as connection:
        by_driver = await fetch_all(connection, ALL_MACHINES)
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

    async with resources.engine.connect() as connection:
        by_driver = await fetch_all(connection, statement)
        by_sqlalchemy = (await connection.execute(statement)).all()

    assert [tuple(row) for row in by_driver] == [tuple(row) for row in by_sqlalchemy]
    assert by_driver[0].model_type is ModelType.BASELINE and by_driver[0].max_cv_rmse == 0.225


async def test_statements_with_parameters_keep_sqlalchemys_path(resources: Resources) -> None:
    async with transaction(resources.sessions) as session:
        machine = await machines.get_or_create(session, "press 2")
    with_parameter = sa.select(Machine.id, Machine.name).where(Machine.name == "press 2")

    async with resources.engine.connect() as connection:
        found = await fetch_all(connection, with_parameter)

    assert _prepared(with_parameter, resources.engine.dialect) is None
    assert [(row.id, row.name) for row in found] == [(machine.id, "press 2")]
