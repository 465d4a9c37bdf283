"""Every integration test runs against SQLite and against a real PostgreSQL database of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.db.migrate import upgrade_to_head
from app.enums import Role
from app.http.web import create_app
from app.runtime.resources import Resources
from tests.integration.apps import client_as, empty_all_tables
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
        await empty_all_tables(state["resources"])


@pytest.fixture
def resources(app: Starlette) -> Resources:
    return app.state.lifespan_state["resources"]


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Sends an administrator token, so every operation is allowed."""
    async with client_as(app, Role.ADMIN) as http:
        yield http


@pytest.fixture
async def operator_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_as(app, Role.OPERATOR) as http:
        yield http


@pytest.fixture
async def viewer_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_as(app, Role.VIEWER) as http:
        yield http


@pytest.fixture
async def anonymous_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_as(app, None) as http:
        yield http
