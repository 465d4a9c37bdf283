"""Per-request GraphQL context: process resources, loaders and who is asking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info as StrawberryInfo

from app.authentication import Principal
from app.db import transaction
from app.rate_limits import RateLimiter
from app.resources import Resources
from graphql_schema.loaders import Loaders


@dataclass
class Context:
    resources: Resources
    rate_limiter: RateLimiter
    request: Any = None
    response: Any = None
    #: Who is asking: from the HTTP request's bearer token, or from a websocket's ``connection_init``;
    #: ``None`` until authenticated. ``graphql_schema.auth`` refuses every operation without one.
    principal: Principal | None = None
    #: The ``connection_init`` payload of a websocket connection (Strawberry sets it).
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.resources.reads)

    @property
    def actor(self) -> str | None:
        """Who performs mutations, recorded on jobs, alerts and policies."""
        return self.principal.name if self.principal else None

    def read(self) -> AsyncSession:
        """A short autocommit session for one resolver's single-statement read."""
        return self.resources.reads()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and is rolled back whole on any error."""
        async with transaction(self.resources.sessions) as session:
            yield session


Info = StrawberryInfo[Context, None]
