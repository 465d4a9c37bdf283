"""Per-request GraphQL context: process resources, loaders and who is asking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info as StrawberryInfo

from app.db import transaction
from app.resources import Resources
from graphql_schema.loaders import Loaders


@dataclass
class Context:
    resources: Resources
    request: Any = None
    response: Any = None
    #: Who performs mutations, recorded on jobs, alerts and policies.
    actor: str | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.resources.sessions)

    def read(self) -> AsyncSession:
        """A short read-only session for one resolver."""
        return self.resources.sessions()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and is rolled back whole on any error."""
        async with transaction(self.resources.sessions) as session:
            yield session


Info = StrawberryInfo[Context, None]
