"""Apps under test: in-process httpx clients, apps with settings of their own, a clean database afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from app.config import Settings
from app.db.engine import transaction
from app.db.tables import Base
from app.enums import Role
from app.http.web import create_app
from app.runtime.resources import Resources
from app.services.access import tokens

BASE_URL = "http://kilowatch.test"


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Starlette]:
    """An app of its own, for tests that need settings other than the ``app`` fixture's."""
    application = create_app(settings)
    async with application.router.lifespan_context(application) as state:
        application.state.lifespan_state = state
        yield application


def with_state(app: Starlette, state: dict[str, object]) -> object:
    """ASGITransport runs no lifespan, so hand each request the state the lifespan produced."""

    async def asgi(scope: dict[str, object], receive: object, send: object) -> None:
        scope["state"] = dict(state)
        await app(scope, receive, send)  # type: ignore[arg-type]

    return asgi


@asynccontextmanager
async def asgi_client(app: Starlette, headers: dict[str, str] | None = None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=with_state(app, app.state.lifespan_state))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as http:
        yield http


@asynccontextmanager
async def client_as(app: Starlette, role: Role | None) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a fresh token of ``role`` (named ``test-<role>``), or with no token at all."""
    headers = {}
    if role is not None:
        async with transaction(app.state.lifespan_state["resources"].sessions) as session:
            issued = await tokens.issue(session, f"test-{role.value}", role, created_by="tests")
        headers["Authorization"] = f"Bearer {issued.secret}"
    async with asgi_client(app, headers) as http:
        yield http


async def empty_all_tables(resources: Resources) -> None:
    async with transaction(resources.sessions) as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(sa.delete(table))
