"""The ASGI application: GraphQL (HTTP, GraphiQL, websockets), health, readiness and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL

from app.config import Settings
from app.resources import Resources, open_resources
from app.runtime.background import embedded_maintenance
from graphql_schema.context import Context
from graphql_schema.schema import build_schema

READINESS_TIMEOUT_S = 2.0
DASHBOARD_DIRECTORY = Path(__file__).resolve().parent / "dashboard"


class KilowatchGraphQL(GraphQL[Context, None]):
    async def get_context(self, request: Any, response: Any) -> Context:
        return Context(resources=request.state.resources, request=request, response=response)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with open_resources(settings) as resources, embedded_maintenance(resources):
            yield {"resources": resources}

    graphql_app = KilowatchGraphQL(schema=build_schema(settings), max_subscriptions_per_connection=50)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = {"database": await _database_ready(request.state.resources)}
        if settings.redis_url:
            checks["redis"] = await _redis_ready(settings.redis_url)
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def dashboard(_: Request) -> Response:
        return FileResponse(DASHBOARD_DIRECTORY / "index.html")

    routes = [
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql_app),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/", dashboard),
        Mount("/static", StaticFiles(directory=DASHBOARD_DIRECTORY), name="static"),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _database_ready(resources: Resources) -> bool:
    try:
        async with resources.engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not ready", reported, never raised
        return False
    return True


async def _redis_ready(url: str) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=READINESS_TIMEOUT_S, socket_timeout=READINESS_TIMEOUT_S)
    try:
        return bool(await client.ping())
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False
    finally:
        await client.aclose()
