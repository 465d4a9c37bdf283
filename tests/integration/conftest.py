"""Every integration test runs against SQLite and against a real PostgreSQL database of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.config import Settings
from app.db import transaction
from app.migrate import upgrade_to_head
from app.resources import Resources
from app.tables import Base
from app.web import create_app
from tests.support import scratch_postgres_database


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "kilowatch.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade_to_head(url)
        yield url
    else:
        async with scratch_postgres_database() as url:
            await upgrade_to_head(url)
            yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, redis_url=None)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application) as state:
        application.state.lifespan_state = state
        yield application
        await _empty_all_tables(state["resources"])


@pytest.fixture
def resources(app: Starlette) -> Resources:
    return app.state.lifespan_state["resources"]


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    state = app.state.lifespan_state
    transport = httpx.ASGITransport(app=_with_state(app, state))
    async with httpx.AsyncClient(transport=transport, base_url="http://kilowatch.test") as http:
        yield http


def _with_state(app: Starlette, state: dict[str, object]) -> object:
    """ASGITransport runs no lifespan, so hand each request the state the lifespan produced."""

    async def asgi(scope: dict[str, object], receive: object, send: object) -> None:
        scope["state"] = dict(state)
        await app(scope, receive, send)  # type: ignore[arg-type]

    return asgi


async def _empty_all_tables(resources: Resources) -> None:
    async with transaction(resources.sessions) as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(sa.delete(table))
