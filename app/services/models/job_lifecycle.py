"""Training-job state machine (docs/architecture.md, "Retrain").

    trigger ──insert PENDING──► enqueue ──worker──► RUNNING ──► COMPLETED | FAILED | CANCELLED
                                                        └─(worker stopping)─► PENDING again

Every transition is one UPDATE guarded by the expected current status (and, once running, by the
owning worker), committed in its own transaction and then published. The partial unique index on
(machine_id, model_type) for pending/running rows makes concurrent triggers yield exactly one job.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.constants import JOBS_CHANNEL
from app.db.engine import changed_rows, dialect_insert, transaction
from app.db.tables import ACTIVE_JOB_CONDITION, TrainingJob
from app.enums import ACTIVE_JOB_STATUSES, AlertType, JobStatus, ModelType, Severity, TriggerType
from app.errors import Conflict, NotFound
from app.services.alerting import alerts
from app.services.checks import require_text
from app.services.fleet import machines
from app.services.models import windows
from app.services.snapshots import snapshot

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.jobs")

ALREADY_RUNNING = "Training already in progress"
MAX_REASON_LENGTH = 1_000
#: How long cancelTrainingJob waits for a running job to acknowledge before answering with its state.
CANCEL_WAIT_S = 3.0


@dataclass(frozen=True)
class TriggerOutcome:
    triggered: bool
    reason: str | None
    job: TrainingJob


async def trigger(
    resources: Resources,
    machine_id: uuid.UUID,
    model_type: ModelType,
    trigger_type: TriggerType,
    reason: str | None = None,
    requested_by: str | None = None,
    *,
    train_from: datetime | None = None,
    train_to: datetime | None = None,
) -> TriggerOutcome:
    """Create a PENDING job unless one is active for the series; then hand it to the queue.

    ``train_from`` / ``train_to`` bound the training window (``windows``); they are checked first.
    """
    require_text("reason", reason, MAX_REASON_LENGTH)
    for _ in range(3):  # the active job may finish between our insert and our read: look again
        async with transaction(resources.sessions) as session:
            await machines.require(session, machine_id)
            await windows.check_bounds(session, machine_id, model_type, train_from, train_to)
            job_id = await _insert_pending(
                session, machine_id, model_type, trigger_type, reason, requested_by, train_from, train_to
            )
            if job_id is None:
                active = await active_job(session, machine_id, model_type)
                if active is None:
                    continue
                return TriggerOutcome(False, ALREADY_RUNNING, active)
            job = await session.get(TrainingJob, job_id)
        assert job is not None
        await publish_job(resources, job)
        try:
            await resources.queue.enqueue(job.id)
        except Exception:  # noqa: BLE001 - the job is recorded; the sweeper re-enqueues it when the queue is back
            logger.warning("could not enqueue training job %s; the sweeper will retry", job.id)
        return TriggerOutcome(True, None, job)
    raise Conflict("the series changed too quickly to start a job; try again", field="modelType")


async def _insert_pending(
    session: AsyncSession,
    machine_id: uuid.UUID,
    model_type: ModelType,
    trigger_type: TriggerType,
    reason: str | None,
    requested_by: str | None,
    train_from: datetime | None,
    train_to: datetime | None,
) -> uuid.UUID | None:
    table = TrainingJob.__table__
    statement = (
        dialect_insert(session)(table)
        .values(
            id=uuid.uuid4(),
            machine_id=machine_id,
            model_type=model_type,
            trigger_type=trigger_type,
            reason=reason,
            status=JobStatus.PENDING,
            progress=0.0,
            created_at=datetime.now(UTC),
            requested_by=requested_by,
            cancel_requested=False,
            train_from=train_from,
            train_to=train_to,
        )
        .on_conflict_do_nothing(index_elements=["machine_id", "model_type"], index_where=sa.text(ACTIVE_JOB_CONDITION))
        .returning(table.c.id)
    )
    return await session.scalar(statement)


async def active_job(session: AsyncSession, machine_id: uuid.UUID, model_type: ModelType) -> TrainingJob | None:
    return await session.scalar(
        sa.select(TrainingJob).where(
            TrainingJob.machine_id == machine_id,
            TrainingJob.model_type == model_type,
            TrainingJob.status.in_(ACTIVE_JOB_STATUSES),
        )
    )


async def publish_job(resources: Resources, job: TrainingJob) -> None:
    await resources.events.publish(JOBS_CHANNEL, snapshot(job))


async def _transition(
    resources: Resources, job_id: uuid.UUID, conditions: list[sa.ColumnElement[bool]], values: dict[str, Any]
) -> TrainingJob | None:
    """One guarded UPDATE in its own transaction; the updated row (published), or None if the guard failed."""
    async with transaction(resources.sessions) as session:
        job = await _guarded_update(session, job_id, conditions, values)
    if job is not None:
        await publish_job(resources, job)
    return job


async def _guarded_update(
    session: AsyncSession, job_id: uuid.UUID, conditions: list[sa.ColumnElement[bool]], values: dict[str, Any]
) -> TrainingJob | None:
    updated = await changed_rows(
        session,
        sa.update(TrainingJob)
        .where(TrainingJob.id == job_id, *conditions)
        .values(**values)
        .execution_options(synchronize_session=False),
    )
    if updated == 0:
        return None
    return await session.get(TrainingJob, job_id, populate_existing=True)


def _owned(worker_id: str) -> list[sa.ColumnElement[bool]]:
    return [TrainingJob.status == JobStatus.RUNNING, TrainingJob.worker_id == worker_id]


async def mark_running(resources: Resources, job_id: uuid.UUID, worker_id: str) -> TrainingJob | None:
    """PENDING → RUNNING for this worker; None when the job was cancelled, taken or finished meanwhile."""
    now = datetime.now(UTC)
    return await _transition(
        resources,
        job_id,
        [TrainingJob.status == JobStatus.PENDING, TrainingJob.cancel_requested.is_(False)],
        {
            "status": JobStatus.RUNNING,
            "started_at": now,
            "heartbeat_at": now,
            "worker_id": worker_id,
            "progress": 0.0,
            "progress_step": "starting",
        },
    )


async def record_progress(resources: Resources, job_id: uuid.UUID, worker_id: str, step: str, fraction: float) -> bool:
    """Store a progress step (which is also a heartbeat); False when the job is no longer this worker's."""
    job = await _transition(
        resources,
        job_id,
        _owned(worker_id),
        {"progress": max(0.0, min(1.0, fraction)), "progress_step": step, "heartbeat_at": datetime.now(UTC)},
    )
    return job is not None and not job.cancel_requested


async def heartbeat(resources: Resources, job_id: uuid.UUID, worker_id: str) -> bool:
    """Refresh the heartbeat; False when the job should stop (cancel requested, or no longer ours)."""
    async with transaction(resources.sessions) as session:
        result = await session.execute(
            sa.update(TrainingJob)
            .where(TrainingJob.id == job_id, *_owned(worker_id))
            .values(heartbeat_at=datetime.now(UTC))
            .returning(TrainingJob.cancel_requested)
        )
        row = result.first()
    return row is not None and not row[0]


async def complete(
    session: AsyncSession, job_id: uuid.UUID, worker_id: str, version_id: uuid.UUID, improvement: float | None
) -> TrainingJob | None:
    """RUNNING → COMPLETED inside the caller's transaction, which also stores the version: both or neither."""
    return await _finish(
        session,
        job_id,
        [*_owned(worker_id), TrainingJob.cancel_requested.is_(False)],
        JobStatus.COMPLETED,
        progress=1.0,
        progress_step="done",
        model_version_id=version_id,
        improvement=improvement,
    )


async def _finish(
    session: AsyncSession,
    job_id: uuid.UUID,
    conditions: list[sa.ColumnElement[bool]],
    status: JobStatus,
    **values: Any,
) -> TrainingJob | None:
    """Move a job to a terminal ``status`` under ``conditions``, stamping when it finished and how long it ran."""
    current = await session.get(TrainingJob, job_id)
    if current is None:
        return None
    now = datetime.now(UTC)
    finished = {"status": status, "finished_at": now, "duration_seconds": _duration(current, now), **values}
    return await _guarded_update(session, job_id, conditions, finished)


def _duration(job: TrainingJob, now: datetime) -> float | None:
    return (now - job.started_at).total_seconds() if job.started_at is not None else None


async def fail(
    resources: Resources,
    job_id: uuid.UUID,
    message: str,
    worker_id: str | None = None,
    silent_since: datetime | None = None,
) -> TrainingJob | None:
    """→ FAILED with the reason, and a TRAINING_FAILED alert, in one transaction.

    ``silent_since`` makes the failure conditional on no heartbeat since then (the sweeper's case), so a
    heartbeat that lands between the sweeper's read and its write keeps the job alive.
    """
    conditions: list[sa.ColumnElement[bool]] = [TrainingJob.status.in_(ACTIVE_JOB_STATUSES)]
    if worker_id is not None:
        conditions.append(TrainingJob.worker_id == worker_id)
    if silent_since is not None:
        conditions += [TrainingJob.status == JobStatus.RUNNING, TrainingJob.heartbeat_at < silent_since]
    raised = None
    async with transaction(resources.sessions) as session:
        job = await _finish(session, job_id, conditions, JobStatus.FAILED, error_message=message[:4000])
        if job is not None:
            raised = await alerts.raise_alert(
                session,
                machine_id=job.machine_id,
                model_type=job.model_type,
                alert_type=AlertType.TRAINING_FAILED,
                severity=Severity.WARNING,
                message=f"{job.model_type.name} training failed: {message[:300]}",
                details={"job_id": str(job.id), "error": message[:2000], "trigger": job.trigger_type.value},
                training_job_id=job.id,
                notify=resources.settings.webhook_urls,
            )
    if job is not None:
        await publish_job(resources, job)
    await alerts.publish(resources, raised)
    return job


async def mark_cancelled(
    resources: Resources, job_id: uuid.UUID, worker_id: str | None = None, only_if_requested: bool = False
) -> TrainingJob | None:
    """→ CANCELLED: a pending job by anyone, a running one by its worker once it has stopped.

    ``only_if_requested`` distinguishes an abort (someone asked) from a worker shutting down.
    """
    if worker_id is None:
        conditions = [TrainingJob.status == JobStatus.PENDING]
    else:
        conditions = _owned(worker_id)
    if only_if_requested:
        conditions.append(TrainingJob.cancel_requested.is_(True))
    async with transaction(resources.sessions) as session:
        job = await _finish(session, job_id, conditions, JobStatus.CANCELLED, cancel_requested=True)
    if job is not None:
        await publish_job(resources, job)
    return job


async def requeue(resources: Resources, job_id: uuid.UUID, worker_id: str) -> TrainingJob | None:
    """RUNNING → PENDING when this worker is shutting down: another worker takes the job from the start."""
    return await _transition(
        resources,
        job_id,
        [*_owned(worker_id), TrainingJob.cancel_requested.is_(False)],
        {
            "status": JobStatus.PENDING,
            "started_at": None,
            # Stamped, not cleared: subscribers order a job's snapshots by their latest instant.
            "heartbeat_at": datetime.now(UTC),
            "worker_id": None,
            "progress": 0.0,
            "progress_step": None,
        },
    )


async def cancel(resources: Resources, job_id: uuid.UUID) -> TrainingJob:
    """Cancel by request: a pending job at once; a running one is asked to stop and interrupted."""
    async with resources.sessions() as session:
        job = await session.get(TrainingJob, job_id)
    if job is None:
        raise NotFound(f"training job {job_id} does not exist", field="id")
    if job.status not in ACTIVE_JOB_STATUSES:
        raise Conflict(f"training job {job_id} is already {job.status.value}", field="id")
    cancelled = await mark_cancelled(resources, job_id)
    if cancelled is not None:
        return cancelled
    # Running: record the request first (the worker's cooperative check reads it), then interrupt.
    requested = await _transition(
        resources, job_id, [TrainingJob.status == JobStatus.RUNNING], {"cancel_requested": True}
    )
    if requested is None:  # it finished (or was requeued) in between: report what it is now
        return await _reload_or_conflict(resources, job_id)
    await resources.queue.abort(job_id)
    return await _await_terminal(resources, job_id)


async def _reload_or_conflict(resources: Resources, job_id: uuid.UUID) -> TrainingJob:
    async with resources.sessions() as session:
        job = await session.get(TrainingJob, job_id)
    assert job is not None
    if job.status == JobStatus.PENDING:  # requeued by a stopping worker: cancel it as pending
        cancelled = await mark_cancelled(resources, job_id)
        if cancelled is not None:
            return cancelled
    if job.status not in ACTIVE_JOB_STATUSES:
        raise Conflict(f"training job {job_id} is already {job.status.value}", field="id")
    return job


async def _await_terminal(resources: Resources, job_id: uuid.UUID) -> TrainingJob:
    """Give a running job a moment to acknowledge; answer with its state either way (subscribers see the rest)."""
    deadline = asyncio.get_running_loop().time() + CANCEL_WAIT_S
    while True:
        async with resources.sessions() as session:
            job = await session.get(TrainingJob, job_id)
        assert job is not None
        if job.status not in ACTIVE_JOB_STATUSES or asyncio.get_running_loop().time() >= deadline:
            return job
        await asyncio.sleep(0.05)


async def sweep(resources: Resources) -> tuple[int, int]:
    """Fail running jobs whose worker went silent; re-enqueue pending jobs the queue lost.

    Safe to run from several processes at once: each failure is a guarded update, and enqueueing is
    idempotent per job id. Returns (failed, re-enqueued).
    """
    stale_after = resources.settings.job_stale_after_s
    cutoff = datetime.now(UTC) - timedelta(seconds=stale_after)
    async with resources.sessions() as session:
        stale = (
            await session.scalars(
                sa.select(TrainingJob.id).where(
                    TrainingJob.status == JobStatus.RUNNING, TrainingJob.heartbeat_at < cutoff
                )
            )
        ).all()
        pending = (
            await session.scalars(sa.select(TrainingJob.id).where(TrainingJob.status == JobStatus.PENDING))
        ).all()
    failed = 0
    for job_id in stale:
        message = f"worker lost: no heartbeat for more than {stale_after:g} s (it stopped, or lost the database)"
        lost = await fail(resources, job_id, message, silent_since=cutoff)
        failed += lost is not None
    requeued = 0
    for job_id in pending:
        if not await resources.queue.holds(job_id):
            await resources.queue.enqueue(job_id)
            requeued += 1
    if failed or requeued:
        logger.info("sweeper: %d lost job(s) failed, %d pending job(s) re-enqueued", failed, requeued)
    return failed, requeued
