"""What a process holds for its lifetime: settings, the database engine and the session factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db import SessionFactory, create_engine, create_read_session_factory, create_session_factory


@dataclass(frozen=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    #: Autocommit sessions for single-statement reads (resolvers and DataLoader batches).
    reads: SessionFactory


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    engine = create_engine(settings.database_url)
    try:
        yield Resources(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            reads=create_read_session_factory(engine),
        )
    finally:
        await engine.dispose()
