"""The ASGI application: GraphQL (HTTP, GraphiQL, websockets), health, readiness and metrics.

Callers are identified here, once per HTTP request from the ``Authorization`` header and once per
websocket from the ``connection_init`` payload; what they may do is decided per operation in
``graphql_schema.engine.auth``. A websocket without a valid token is closed with 4401, one whose role can run
no subscription with 4403.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.background import BackgroundTasks
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from app.config import Settings
from app.http.authentication import Authenticator
from app.http.failures import BodyLimit, answer_or_explain, failure_response
from app.http.heap import startup_objects_frozen
from app.http.process_metrics import exposition
from app.maintenance.loops import embedded_maintenance
from app.runtime.rate_limits import open_rate_limiter
from app.runtime.resources import Resources, open_resources
from app.services.models.runner import inline_runner
from graphql_schema.engine.auth import minimum_subscription_role
from graphql_schema.engine.context import Context
from graphql_schema.engine.live import FramedTextAdapter, LiveGraphQLTransportWSHandler, LiveGraphQLWSHandler
from graphql_schema.schema import build_schema

READINESS_TIMEOUT_S = 2.0
DASHBOARD_DIRECTORY = Path(__file__).resolve().parent.parent / "dashboard"
#: Browsers may cache a CORS preflight answer this long (seconds).
CORS_MAX_AGE_S = 600


class ClosingOnceWebSocketAdapter(FramedTextAdapter):
    """Closing an already closed socket does nothing.

    Strawberry answers a rejected ``connection_init`` with 4403 (graphql-transport-ws) or 1011 (legacy
    graphql-ws); to answer a missing or invalid token with 4401 and a too weak role with 4403 on both,
    ``on_ws_connect`` closes the socket itself and then rejects, and the close that Strawberry attempts
    next must not fail.
    """

    async def close(self, code: int, reason: str) -> None:
        if self.ws.application_state is not WebSocketState.DISCONNECTED:
            await self.ws.close(code=code, reason=reason)


class KilowatchGraphQL(GraphQL[Context, None]):
    websocket_adapter_class = ClosingOnceWebSocketAdapter
    graphql_transport_ws_handler_class = LiveGraphQLTransportWSHandler
    graphql_ws_handler_class = LiveGraphQLWSHandler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As Strawberry's, with every failure of an HTTP request answered as GraphQL-shaped JSON."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        await answer_or_explain(scope, receive, send, lambda: self.run(Request(scope, receive)))

    @property
    def graphql_ide_html(self) -> str:
        """GraphiQL built from files this server ships: Strawberry's own page loads them from a CDN."""
        return _graphiql_page()

    async def get_context(self, request: Any, response: Any) -> Context:
        state = request.state
        context = Context(
            resources=state.resources, rate_limiter=state.rate_limiter, request=request, response=response
        )
        if request.scope["type"] == "http":
            authentication = await state.authenticator.authenticate(request.headers.get("authorization"))
            context.principal = authentication.principal
            if authentication.record_use is not None:
                _run_after_response(response, authentication.record_use)
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        parameters = context.connection_params or {}
        authorization = parameters.get("Authorization", parameters.get("authorization"))
        authentication = await context.request.state.authenticator.authenticate(authorization)
        principal = authentication.principal
        if principal is None:
            await context.response.close(code=4401, reason="Unauthorized")
            raise ConnectionRejectionError
        if not principal.has_role(minimum_subscription_role()):
            await context.response.close(code=4403, reason="Forbidden")
            raise ConnectionRejectionError
        if authentication.record_use is not None:
            await authentication.record_use()
        context.principal = principal
        return UNSET


@cache
def _graphiql_page() -> str:
    return (DASHBOARD_DIRECTORY / "graphiql.html").read_text()


def _run_after_response(response: Response, task: Callable[[], Awaitable[None]]) -> None:
    """Queue ``task`` to run once the response has been sent, next to any task already queued."""
    queued = response.background
    tasks = queued if isinstance(queued, BackgroundTasks) else BackgroundTasks([queued] if queued else [])
    tasks.add_task(task)
    response.background = tasks


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with (
            open_resources(settings, inline_runner) as resources,
            open_rate_limiter(settings) as rate_limiter,
            embedded_maintenance(resources),
        ):
            authenticator = Authenticator(resources.engine, resources.sessions, enabled=settings.auth == "on")
            with startup_objects_frozen():
                yield {"resources": resources, "rate_limiter": rate_limiter, "authenticator": authenticator}

    graphql_app = KilowatchGraphQL(
        schema=build_schema(settings),
        max_subscriptions_per_connection=50,
        subscription_protocols=(
            GRAPHQL_TRANSPORT_WS_PROTOCOL,
            *([GRAPHQL_WS_PROTOCOL] if settings.legacy_graphql_ws else []),
        ),
        allowed_origins=settings.cors_origins,
    )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = {"database": await _database_ready(request.state.resources)}
        if settings.redis_url:
            checks["redis"] = await _redis_ready(settings.redis_url)
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    async def dashboard(_: Request) -> Response:
        return FileResponse(DASHBOARD_DIRECTORY / "index.html")

    routes = [
        Route("/graphql", graphql_app),  # the view refuses other methods itself, as GraphQL-shaped JSON
        WebSocketRoute("/graphql", graphql_app),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/", dashboard),
        Mount("/static", StaticFiles(directory=DASHBOARD_DIRECTORY), name="static"),
    ]
    middleware = [Middleware(BodyLimit, max_bytes=settings.max_body_bytes)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
                max_age=CORS_MAX_AGE_S,
            )
        )
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers={Exception: lambda _, error: failure_response(error)},
    )


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
