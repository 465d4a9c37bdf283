"""What a process holds for its lifetime: settings, database, job queue and event bus.

The two runtime modes differ only here: with ``REDIS_URL`` set, jobs go to ARQ workers and events
through Redis; without it, the same task function runs in-process and events stay in memory. Which task
function that is, the caller says (``runner``): ports do not know the services that use them.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.constants import TRAINING_QUEUE
from app.db.engine import SessionFactory, create_engine, create_read_session_factory, create_session_factory
from app.runtime.events import EventBus, MemoryEventBus, RedisEventBus
from app.runtime.hub import EventHub
from app.runtime.queue import ArqQueue, InlineQueue, JobQueue, JobRunner


@dataclass(frozen=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    #: Autocommit sessions for single-statement reads (resolvers and DataLoader batches).
    reads: SessionFactory
    queue: JobQueue
    events: EventBus
    #: This process's single event subscription, fanned out to its GraphQL subscribers.
    hub: EventHub


def worker_identity() -> str:
    """Who owns a running job: unique per process start, readable in the jobs table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@asynccontextmanager
async def open_resources(
    settings: Settings, runner: Callable[[Resources], JobRunner] | None = None
) -> AsyncIterator[Resources]:
    """Open what a process holds; in embedded mode ``runner`` builds the in-process queue's task function.

    Processes that never enqueue a job (``kilowatch import``, ``migrate``, ``token``) pass no runner.
    """
    engine = create_engine(settings.database_url)
    events: EventBus = (
        RedisEventBus.connect(settings.redis_url, settings.redis_name("")) if settings.redis_url else MemoryEventBus()
    )
    queue: JobQueue
    inline: InlineQueue | None = None
    if settings.redis_url:
        queue = await ArqQueue.connect(settings.redis_url, settings.redis_name(TRAINING_QUEUE))
    else:
        queue = inline = InlineQueue(settings.worker_concurrency)
    resources = Resources(
        settings=settings,
        engine=engine,
        sessions=create_session_factory(engine),
        reads=create_read_session_factory(engine),
        queue=queue,
        events=events,
        hub=EventHub(events),
    )
    if inline is not None and runner is not None:
        inline.bind(runner(resources))
    try:
        yield resources
    finally:
        await resources.hub.close()
        await queue.close()
        await events.close()
        await engine.dispose()
