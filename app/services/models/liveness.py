"""How a running job proves that it moves, and why none of its own writes can wedge it.

A heartbeat alone proves that the process is alive, not that the job advances: a job whose progress
writer had died on one failed write kept beating, RUNNING, until its whole time budget ran out. So every
database call a running job makes is bounded in time, and what happens when one fails is decided here:

- progress steps are hints. A failed or slow one is logged and skipped (the next step or heartbeat brings
  the row up to date), so the fit never waits on a database that is away;
- the calls that decide the outcome (reading the training data, storing the version, recording a
  failure with its reason) are retried with backoff while the error looks transient (a refused or dropped
  connection, a timeout, a locked SQLite file), for at most ``job_stale_after_s``;
- a job that cannot even record its failure lets go: its heartbeat ends with it, so the sweeper fails the
  row once the database is back, at most ``job_stale_after_s + sweep_interval_s`` after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import exc

from app.services.models import job_lifecycle

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.training")

T = TypeVar("T")
#: Longest a progress step or heartbeat may take before it is given up (the next one catches up).
PROGRESS_WRITE_TIMEOUT_S = 5.0
#: Backoff between attempts of an outcome-deciding call.
FIRST_RETRY_S = 0.2
MAX_RETRY_S = 5.0


class TrainingCancelled(Exception):
    """Raised between steps once a cancellation was requested."""


def transient(error: BaseException) -> bool:
    """Whether ``error`` says the database is (momentarily) out of reach rather than that the call is wrong."""
    if isinstance(error, OSError | TimeoutError):  # refused or reset connections, and our own time bounds
        return True
    if isinstance(error, exc.DBAPIError):
        return error.connection_invalidated or isinstance(error, exc.OperationalError | exc.InterfaceError)
    return False


async def with_retries(action: Callable[[], Awaitable[T]], *, within_s: float, what: str) -> T:
    """``action()``, retried with backoff while it fails transiently, for at most ``within_s`` in all.

    Each attempt is bounded by what is left of ``within_s``, so a connection that hangs instead of
    failing cannot hold the job either. The last error is raised once the time is up.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    delay = FIRST_RETRY_S
    while True:
        try:
            async with asyncio.timeout(max(deadline - loop.time(), FIRST_RETRY_S)):
                return await action()
        except Exception as error:
            if not transient(error) or loop.time() + delay >= deadline:
                raise
            logger.warning("%s failed (%s: %s); retrying in %.1f s", what, type(error).__name__, error, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_RETRY_S)


async def heartbeat(resources: Resources, job_id: uuid.UUID, worker_id: str, stop: threading.Event) -> None:
    """Refresh the job's heartbeat every JOB_HEARTBEAT_S and notice cancellation requests.

    It runs only as long as the job's own coroutine: when that ends, for whatever reason, so does this.
    """
    while not stop.is_set():
        await asyncio.sleep(resources.settings.job_heartbeat_s)
        try:
            async with asyncio.timeout(PROGRESS_WRITE_TIMEOUT_S):
                if not await job_lifecycle.heartbeat(resources, job_id, worker_id):
                    stop.set()
        except Exception as error:  # noqa: BLE001 - a missed beat is survivable; the next one retries
            logger.warning("heartbeat of job %s failed: %s: %s", job_id, type(error).__name__, error)


class ProgressReporter:
    """Carries progress from the fitting thread to the database in order, and cancellation back to it.

    The thread only enqueues; one writer task stores the steps one after another, so subscribers see
    them in the order they happened. The writer survives failed writes (see the module docstring), so
    waiting for it to drain always ends.
    """

    def __init__(self, resources: Resources, job_id: uuid.UUID, worker_id: str, stop: threading.Event) -> None:
        self._resources = resources
        self._job_id = job_id
        self._worker_id = worker_id
        self._stop = stop
        self._loop = asyncio.get_running_loop()
        self._steps: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        self._writer = self._loop.create_task(self._write_steps())

    async def step(self, name: str, fraction: float) -> None:
        """A step taken on the event loop: written (or given up) before returning."""
        await self.flush()
        await self._record(name, fraction)
        if self._stop.is_set():
            raise TrainingCancelled

    def from_thread(self, name: str, fraction: float) -> None:
        if self._stop.is_set():
            raise TrainingCancelled
        self._loop.call_soon_threadsafe(self._steps.put_nowait, (name, fraction))

    async def _write_steps(self) -> None:
        while True:
            name, fraction = await self._steps.get()
            try:
                await self._record(name, fraction)
            finally:
                self._steps.task_done()

    async def _record(self, name: str, fraction: float) -> None:
        try:
            async with asyncio.timeout(PROGRESS_WRITE_TIMEOUT_S):
                ours = await job_lifecycle.record_progress(
                    self._resources, self._job_id, self._worker_id, name, fraction
                )
        except Exception as error:  # noqa: BLE001 - progress is a hint; the outcome's writes are retried
            logger.warning("progress %r of job %s not stored: %s: %s", name, self._job_id, type(error).__name__, error)
            return
        if not ours:
            self._stop.set()

    async def flush(self) -> None:
        await self._steps.join()
        if self._stop.is_set():
            raise TrainingCancelled

    async def close(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
