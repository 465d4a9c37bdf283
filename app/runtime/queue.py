"""JobQueue: hands training jobs to whatever runs them.

The database row is the record of a job; the queue only carries its id. ``ArqQueue`` puts it on Redis
for ``kilowatch worker`` processes (the ARQ job id is the training job id, so enqueueing twice is a
no-op); ``InlineQueue`` runs the same task function in this process for the embedded mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job, JobStatus
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.constants import ABORT_CONFIRM_TIMEOUT_S, TRAIN_TASK

logger = logging.getLogger("kilowatch.queue")

JobRunner = Callable[[uuid.UUID], Awaitable[None]]
#: Per-command retries on a dropped connection, with exponential backoff capped at COMMAND_RETRY_CAP_S.
COMMAND_RETRIES = 3
COMMAND_RETRY_CAP_S = 1.0


class JobQueue(Protocol):
    async def enqueue(self, job_id: uuid.UUID) -> None:
        """Hand the job to a runner; safe to call again for the same id."""

    async def abort(self, job_id: uuid.UUID) -> None:
        """Interrupt a running job; the caller has already recorded the cancellation request."""

    async def holds(self, job_id: uuid.UUID) -> bool:
        """Whether the queue still knows the job (queued or running): the sweeper re-enqueues the rest."""

    async def close(self) -> None: ...


def redis_settings(url: str) -> RedisSettings:
    """Connection settings with retries: at connect time, and per command for a blip of about a second.

    Longer outages are the callers' to ride out: workers run their poll loop again (``workers.run``), the
    API records jobs in the database first and lets the sweeper enqueue what could not be enqueued.
    """
    settings = RedisSettings.from_dsn(url)
    settings.conn_retries = 10
    settings.conn_retry_delay = 1
    settings.retry_on_timeout = True
    settings.retry = Retry(ExponentialBackoff(cap=COMMAND_RETRY_CAP_S, base=0.1), COMMAND_RETRIES)
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError]
    return settings


class ArqQueue:
    def __init__(self, redis: ArqRedis, queue_name: str) -> None:
        self._redis = redis
        self._queue_name = queue_name

    @classmethod
    async def connect(cls, url: str, queue_name: str) -> ArqQueue:
        return cls(await create_pool(redis_settings(url), default_queue_name=queue_name), queue_name)

    async def enqueue(self, job_id: uuid.UUID) -> None:
        await self._redis.enqueue_job(TRAIN_TASK, str(job_id), _job_id=str(job_id), _queue_name=self._queue_name)

    async def abort(self, job_id: uuid.UUID) -> None:
        job = Job(str(job_id), self._redis, _queue_name=self._queue_name)
        try:
            # Aborting an id ARQ does not hold poisons later jobs with that id (arq#485): only known ones.
            if await job.status() not in (JobStatus.queued, JobStatus.deferred, JobStatus.in_progress):
                return
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await job.abort(timeout=ABORT_CONFIRM_TIMEOUT_S, poll_delay=0.1)
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            # The request is recorded on the job; its worker reads it with its next heartbeat and stops.
            logger.warning("could not interrupt training job %s through Redis (%s); its heartbeat will", job_id, error)

    async def holds(self, job_id: uuid.UUID) -> bool:
        status = await Job(str(job_id), self._redis, _queue_name=self._queue_name).status()
        return status in (JobStatus.queued, JobStatus.deferred, JobStatus.in_progress)

    async def close(self) -> None:
        await self._redis.aclose()


class InlineQueue:
    """Runs jobs as tasks of this event loop, at most ``concurrency`` at a time (embedded mode)."""

    def __init__(self, concurrency: int) -> None:
        self._runner: JobRunner | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}

    def bind(self, runner: JobRunner) -> None:
        """Set the task function once the process's resources exist (the runner needs them)."""
        self._runner = runner

    async def enqueue(self, job_id: uuid.UUID) -> None:
        if self._runner is None:
            raise RuntimeError("InlineQueue used before a runner was bound")
        if job_id in self._tasks:
            return
        task = asyncio.get_running_loop().create_task(self._run(job_id), name=f"training-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    async def _run(self, job_id: uuid.UUID) -> None:
        assert self._runner is not None
        async with self._slots:
            try:
                await self._runner(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # the runner records failures on the job; this only keeps the loop alive
                logger.exception("training job %s raised outside its own handling", job_id)

    async def abort(self, job_id: uuid.UUID) -> None:
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()

    async def holds(self, job_id: uuid.UUID) -> bool:
        return job_id in self._tasks

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
