"""What a process holds for its lifetime: settings, database, job queue and event bus.

The two runtime modes differ only here: with ``REDIS_URL`` set, jobs go to ARQ workers and events
through Redis; without it, the same task function runs in-process and events stay in memory.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.engine import SessionFactory, create_engine, create_read_session_factory, create_session_factory
from app.runtime.events import EventBus, MemoryEventBus, RedisEventBus
from app.runtime.hub import EventHub
from app.runtime.queue import ArqQueue, InlineQueue, JobQueue


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


def _inline_trainer(resources: Resources, identity: str) -> Callable[[uuid.UUID], Awaitable[None]]:
    """The embedded queue's task. The training module pulls in the whole ML stack (statsmodels, Prophet,
    scikit-learn: seconds of imports), so it is imported on the first job, not by every process that opens
    resources (``kilowatch import``, ``migrate``, ``token``)."""

    async def train(job_id: uuid.UUID) -> None:
        from app.services.models.training import run_training_job

        await run_training_job(resources, job_id, identity)

    return train


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    engine = create_engine(settings.database_url)
    events: EventBus = RedisEventBus.connect(settings.redis_url) if settings.redis_url else MemoryEventBus()
    queue: JobQueue
    inline: InlineQueue | None = None
    if settings.redis_url:
        queue = await ArqQueue.connect(settings.redis_url)
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
    if inline is not None:
        inline.bind(_inline_trainer(resources, worker_identity()))
    try:
        yield resources
    finally:
        await resources.hub.close()
        await queue.close()
        await events.close()
        await engine.dispose()
