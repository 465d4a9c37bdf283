"""``kilowatch worker``: one process running the training queue and the maintenance crons.

They are separate ARQ workers on separate queues, so a long training never delays a cron. The
process also sweeps lost jobs (at start and every SWEEP_INTERVAL_S). It exits when Redis goes away
(ARQ's behaviour); the supervisor (compose ``restart: unless-stopped``) starts it again.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from arq import cron
from arq.cron import CronJob
from arq.worker import Worker, func

from app.config import Settings
from app.constants import ARQ_TIMEOUT_MARGIN_S, MAINTENANCE_QUEUE, TRAIN_TASK, TRAINING_QUEUE
from app.maintenance.loops import maintenance
from app.maintenance.periodic import cron_fields, periodic_tasks
from app.runtime.queue import redis_settings
from app.runtime.resources import Resources, open_resources, worker_identity
from app.runtime.schedule import WEEKDAYS
from workers.tasks import run_periodic, train_model

logger = logging.getLogger("kilowatch.worker")

HEALTH_CHECK_INTERVAL_S = 30


def training_worker(resources: Resources, identity: str) -> Worker:
    settings = resources.settings
    timeout = settings.job_timeout_s + ARQ_TIMEOUT_MARGIN_S  # the task's own timeout fires first and is recorded
    return Worker(
        # No ARQ results are kept: the database is the record, and a kept result would make ARQ refuse the
        # sweeper's re-enqueue of a job whose run ended without settling it (say, the database was away).
        functions=[func(train_model, name=TRAIN_TASK, timeout=timeout, max_tries=3, keep_result=0)],
        keep_result=0,
        queue_name=settings.redis_name(TRAINING_QUEUE),
        redis_settings=redis_settings(settings.redis_url or ""),
        handle_signals=False,
        max_jobs=settings.worker_concurrency,
        poll_delay=settings.worker_poll_delay_s,
        job_timeout=timeout,
        allow_abort_jobs=True,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        ctx={"resources": resources, "worker_id": identity},
    )


def maintenance_worker(resources: Resources, jobs: list[CronJob]) -> Worker:
    return Worker(
        cron_jobs=jobs,
        queue_name=resources.settings.redis_name(MAINTENANCE_QUEUE),
        redis_settings=redis_settings(resources.settings.redis_url or ""),
        handle_signals=False,
        poll_delay=1.0,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        ctx={"resources": resources},
    )


def cron_jobs(settings: Settings) -> list[CronJob]:
    """One unique ARQ cron per registered periodic task: once per tick across all workers."""
    jobs = []
    for task in periodic_tasks():
        timing: dict[str, Any]
        if task.interval_s is not None:
            timing = cron_fields(task.interval_s(settings))
        elif task.schedule is not None and (plan := task.schedule(settings)) is not None:
            weekday = None if plan.weekday is None else WEEKDAYS[plan.weekday]
            timing = {"weekday": weekday, "hour": plan.hour, "minute": plan.minute}
        else:
            continue
        # The name makes the ARQ job id of each tick, namespaced like the queues so deployments never collide.
        jobs.append(cron(run_periodic(task), name=settings.redis_name(task.name), unique=True, **timing))
    return jobs


async def run_workers(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with open_resources(settings) as resources, maintenance(resources, periodic=False):
        identity = worker_identity()
        workers = [training_worker(resources, identity)]
        jobs = cron_jobs(settings)
        if jobs:
            workers.append(maintenance_worker(resources, jobs))
        logger.info("worker %s started (%d ARQ workers)", identity, len(workers))
        runs = [asyncio.create_task(worker.async_run()) for worker in workers]
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopping, *runs], return_when=asyncio.FIRST_COMPLETED)
        # On a signal, jobs still running go back to PENDING (see run_training_job) for another worker.
        await asyncio.gather(*(worker.close() for worker in workers), return_exceptions=True)
        stopping.cancel()
        for run in runs:
            if run in done and run.exception() is not None:
                raise run.exception()  # type: ignore[misc]
