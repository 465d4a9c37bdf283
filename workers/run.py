"""``kilowatch worker``: one process running the training queue and the maintenance crons.

They are separate ARQ workers on separate queues, so a long training never delays a cron. The
process also sweeps lost jobs (at start and every SWEEP_INTERVAL_S).

Redis going away does not end the process. An ARQ worker's poll loop ends on the first connection
error (ARQ's behaviour); here it is started again with backoff until Redis answers, while the jobs it
was running carry on (they need only the database). A restarted Redis has lost its queue; the sweeper
re-enqueues the pending jobs it no longer holds, so work resumes without anyone restarting anything.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from arq import cron
from arq.cron import CronJob
from arq.worker import Worker, func
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
#: Longest a periodic run may take: its period (a day for scheduled tasks), at least ARQ's default.
MIN_PERIODIC_TIMEOUT_S = 300.0
DAY_S = 86_400.0
#: Backoff between attempts to run an ARQ worker again after Redis dropped (seconds).
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 10.0


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
            period = task.interval_s(settings)
            timing = cron_fields(period)
        elif task.schedule is not None and (plan := task.schedule(settings)) is not None:
            period = DAY_S
            weekday = None if plan.weekday is None else WEEKDAYS[plan.weekday]
            timing = {"weekday": weekday, "hour": plan.hour, "minute": plan.minute}
        else:
            continue
        # The name makes the ARQ job id of each tick, namespaced like the queues so deployments never collide.
        # Without a timeout of its own ARQ cancels a run after 300 s: a monitoring pass over a large fleet
        # would end part-way, every time at the same series. A run may take up to its period instead.
        timeout = max(period, MIN_PERIODIC_TIMEOUT_S)
        jobs.append(
            cron(run_periodic(task), name=settings.redis_name(task.name), unique=True, timeout=timeout, **timing)
        )
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
        runs = [asyncio.create_task(_supervised(worker)) for worker in workers]
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopping, *runs], return_when=asyncio.FIRST_COMPLETED)
        # On a signal, jobs still running go back to PENDING (see run_training_job) for another worker.
        await asyncio.gather(*(worker.close() for worker in workers), return_exceptions=True)
        stopping.cancel()
        for run in runs:
            if run in done and (error := run.exception()) is not None:
                raise error


async def _supervised(worker: Worker) -> None:
    """Run ``worker`` until it is closed, starting its poll loop again whenever Redis drops it."""
    loop = asyncio.get_running_loop()
    delay = RECONNECT_FIRST_S
    while True:
        started = loop.time()
        try:
            await worker.async_run()
            return
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            if loop.time() - started > RECONNECT_MAX_S:
                delay = RECONNECT_FIRST_S  # it had been running fine: this is a new outage
            logger.warning(
                "worker of %s lost Redis (%s: %s); running it again in %.1f s",
                worker.queue_name,
                type(error).__name__,
                error,
                delay,
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, RECONNECT_MAX_S)
        _recount_slots(worker)


def _recount_slots(worker: Worker) -> None:
    """Give back the job slots an interrupted poll took but never used.

    ARQ takes a slot (its semaphore and ``job_counter``) before it reads a job from Redis and returns it
    when the job's task ends; a connection error in between keeps the slot forever, and a worker with
    one slot would never take a job again. Jobs still running keep theirs: their tasks return them.
    After the backoff sleep every finished task has already returned its slot, so this count is exact.
    """
    running = sum(not task.done() for task in worker.tasks.values())
    worker.job_counter = running
    # ARQ sizes its semaphore max_jobs + 1; not bounded, since the running jobs' tasks release into it.
    worker.sem = asyncio.Semaphore(worker.max_jobs + 1 - running)  # type: ignore[assignment]  # ARQ declares it Bounded
