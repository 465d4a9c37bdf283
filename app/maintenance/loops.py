"""Maintenance loops of a process: the job sweeper and, in embedded mode, the retraining schedule.

Both are re-entrant: several processes may run them at once (guarded updates, idempotent enqueues,
one active job per series), so no leader election is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial

from app.maintenance.periodic import periodic_tasks
from app.runtime.resources import Resources
from app.runtime.schedule import Schedule
from app.services.models import job_lifecycle

logger = logging.getLogger("kilowatch.background")


@asynccontextmanager
async def maintenance(resources: Resources, *, periodic: bool) -> AsyncIterator[None]:
    """Sweep now and every SWEEP_INTERVAL_S; with ``periodic``, also run every registered periodic task."""
    settings = resources.settings
    loops = [asyncio.create_task(_every(settings.sweep_interval_s, lambda: job_lifecycle.sweep(resources)))]
    for work in periodic_tasks() if periodic else []:
        action = partial(work.action, resources)
        if work.interval_s is not None:
            loops.append(asyncio.create_task(_every(work.interval_s(settings), action, start_now=False)))
        elif work.schedule is not None and (plan := work.schedule(settings)) is not None:
            loops.append(asyncio.create_task(_on_schedule(plan, action)))
    try:
        yield
    finally:
        for loop in loops:
            loop.cancel()
        for loop in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop


async def _every(interval_s: float, action: Callable[[], Awaitable[object]], start_now: bool = True) -> None:
    if not start_now:
        await asyncio.sleep(interval_s)
    while True:
        await _guarded(action)
        await asyncio.sleep(interval_s)


async def _on_schedule(plan: Schedule, action: Callable[[], Awaitable[object]]) -> None:
    while True:
        delay = (plan.next_after(datetime.now(UTC)) - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(delay, 0.0))
        await _guarded(action)


async def _guarded(action: Callable[[], Awaitable[object]]) -> None:
    try:
        await action()
    except Exception:  # a failed round (database restarting, say) must not end the loop
        logger.exception("maintenance round failed; retrying at the next interval")


@asynccontextmanager
async def embedded_maintenance(resources: Resources) -> AsyncIterator[None]:
    """The API process does the workers' maintenance only when it is the whole system (no Redis)."""
    if not resources.settings.embedded:
        yield
        return
    async with maintenance(resources, periodic=True):
        yield
