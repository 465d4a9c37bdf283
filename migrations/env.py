"""Alembic environment for both PostgreSQL and SQLite.

``app.db.migrate`` hands in an open connection (``config.attributes["connection"]``) so migrations run
inside the caller's event loop; the plain ``alembic`` command line path opens its own async engine.
On PostgreSQL the upgrade holds an advisory lock so several replicas can start at once.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.constants import MIGRATION_ADVISORY_LOCK_ID
from app.db.tables import Base

config = context.config
target_metadata = Base.metadata


def run_with_connection(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_ADVISORY_LOCK_ID})")
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.begin() as connection:
        await connection.run_sync(run_with_connection)
    await engine.dispose()


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (existing := config.attributes.get("connection")) is not None:
    run_with_connection(existing)
else:
    asyncio.run(run_online())
