"""PostgreSQL connections that die under the pool are replaced without restarting the process.

The pool does not ping every checkout (``app.db.engine``); these tests show the two mechanisms that replace
that ping: idle connections are pinged before use, and a disconnect seen by a statement invalidates
the whole pool. SQLite is a local file with nothing to reconnect, so only PostgreSQL is tested.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from app.config import Settings
from app.db.engine import IDLE_PING_S
from app.db.migrate import upgrade_to_head
from app.enums import Role
from app.http.web import create_app
from tests.integration.apps import client_as
from tests.support import ADMIN_DSN, data_of, graphql, scratch_postgres_database

MACHINES = "{ machines { name } }"
REGISTER = "mutation($n: String!) { registerMachine(name: $n) { name } }"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with scratch_postgres_database() as url:
        await upgrade_to_head(url)
        yield url


@pytest.fixture
async def app(postgres_url: str) -> AsyncIterator[Starlette]:
    application = create_app(Settings(database_url=postgres_url, redis_url=None))
    async with application.router.lifespan_context(application) as state:
        application.state.lifespan_state = state
        yield application


async def drop_every_connection(database_url: str) -> int:
    """What a PostgreSQL restart or failover does to the pool: every server process of the database ends."""
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        return await admin.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()) AS terminated",
            make_url(database_url).database,
        )
    finally:
        await admin.close()


async def fill_pool(client: httpx.AsyncClient) -> None:
    """Several concurrent requests, so the pool holds several connections, all of which will be dropped."""
    results = await asyncio.gather(*(graphql(client, MACHINES) for _ in range(8)))
    assert all(data_of(result) == {"machines": []} for result in results)


async def test_idle_connections_that_died_are_replaced_before_use(app: Starlette, postgres_url: str) -> None:
    async with client_as(app, Role.ADMIN) as client:
        await fill_pool(client)
        assert await drop_every_connection(postgres_url) >= 2
        await asyncio.sleep(IDLE_PING_S * 1.5)

        reads = await asyncio.gather(*(graphql(client, MACHINES) for _ in range(8)))
        write = await graphql(client, REGISTER, {"n": "after the restart"})

    assert all(data_of(result) == {"machines": []} for result in reads), reads
    assert data_of(write) == {"registerMachine": {"name": "after the restart"}}


async def test_a_disconnect_in_a_busy_pool_costs_at_most_the_request_that_met_it(
    app: Starlette, postgres_url: str
) -> None:
    async with client_as(app, Role.ADMIN) as client:
        await fill_pool(client)
        assert await drop_every_connection(postgres_url) >= 2

        first = await graphql(client, MACHINES)  # may meet a dead connection: SERVICE_UNAVAILABLE, to retry
        rest = [await graphql(client, MACHINES) for _ in range(5)]
        write = await graphql(client, REGISTER, {"n": "right after the restart"})

    if "errors" in first:
        assert [error["extensions"]["code"] for error in first["errors"]] == ["SERVICE_UNAVAILABLE"]
        assert first["errors"][0]["extensions"]["retryAfter"] > 0
        assert "terminat" not in str(first).lower()
    assert all(data_of(result) == {"machines": []} for result in rest), rest
    assert data_of(write) == {"registerMachine": {"name": "right after the restart"}}
