"""Root subscription: live job progress and alerts, from this process's single event-hub subscription.

Both subscribe to the hub *before* reading the database, so nothing published in between is lost;
events older than what was read are dropped, so nothing is shown twice or out of order. After a bus
reconnection the database is read again to fill the gap.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from functools import lru_cache

import sqlalchemy as sa
import strawberry

from app import tables
from app.constants import ALERTS_CHANNEL, JOBS_CHANNEL
from app.enums import ACTIVE_JOB_STATUSES, SEVERITY_RANK
from app.errors import NotFound
from app.runtime.events import Event, Reconnected
from app.services.checks import require_aware
from app.services.snapshots import restore
from graphql_schema.context import Info
from graphql_schema.enums import ModelType, Severity
from graphql_schema.types.alerts import Alert
from graphql_schema.types.jobs import TrainingJob


def _moment(job: tables.TrainingJob) -> datetime:
    """The latest instant a job's row records: later snapshots of one job have later (or equal) moments."""
    return max(stamp for stamp in (job.created_at, job.started_at, job.heartbeat_at, job.finished_at) if stamp)


@lru_cache(maxsize=256)
def _restored_alert(event: Event) -> tables.Alert:
    """Every subscriber of a process receives the same Event object: rebuild its row once, not per subscriber."""
    return restore(tables.Alert, event.payload)


@lru_cache(maxsize=256)
def _restored_job(event: Event) -> tables.TrainingJob:
    return restore(tables.TrainingJob, event.payload)


def _fresh_loaders(info: Info) -> None:
    """A websocket's context lives as long as the connection; each event gets loaders of its own."""
    info.context.loaders = type(info.context.loaders)(info.context.resources.reads)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every status or progress change of matching jobs, in order, ending with the terminal status."
    )
    async def training_job_updates(
        self,
        info: Info,
        job_id: uuid.UUID | None = None,
        machine_id: uuid.UUID | None = None,
        model_type: ModelType | None = None,
    ) -> AsyncGenerator[TrainingJob, None]:
        resources = info.context.resources
        subscription = await resources.hub.subscribe(JOBS_CHANNEL)
        last: dict[uuid.UUID, tuple[datetime, dict[str, object]]] = {}

        def is_new(job: tables.TrainingJob) -> bool:
            state = {
                column: getattr(job, column)
                for column in ("status", "progress", "progress_step", "cancel_requested", "model_version_id")
            }
            seen = last.get(job.id)
            if seen is not None and (_moment(job) < seen[0] or state == seen[1]):
                return False
            last[job.id] = (_moment(job), state)
            return True

        async def current() -> tables.TrainingJob | None:
            async with resources.reads() as session:
                return await session.get(tables.TrainingJob, job_id)

        try:
            if job_id is not None:
                job = await current()
                if job is None:
                    raise NotFound(f"training job {job_id} does not exist", field="jobId")
                is_new(job)
                yield TrainingJob.from_row(job)
                if job.status not in ACTIVE_JOB_STATUSES:
                    return
            while True:
                item = await subscription.next()
                if isinstance(item, Reconnected):
                    if job_id is None or (job := await current()) is None or not is_new(job):
                        continue
                else:
                    job = _restored_job(item)
                    if (
                        (job_id is not None and job.id != job_id)
                        or (machine_id is not None and job.machine_id != machine_id)
                        or (model_type is not None and job.model_type != model_type)
                        or not is_new(job)
                    ):
                        continue
                _fresh_loaders(info)
                yield TrainingJob.from_row(job)
                if job_id is not None and job.status not in ACTIVE_JOB_STATUSES:
                    return
        finally:
            subscription.close()

    @strawberry.subscription(
        description=(
            "New alerts. With since, alerts created after that instant are replayed first, then live ones follow."
        )
    )
    async def alert_raised(
        self,
        info: Info,
        machine_id: uuid.UUID | None = None,
        model_type: ModelType | None = None,
        min_severity: Severity | None = None,
        since: datetime | None = None,
    ) -> AsyncGenerator[Alert, None]:
        """Live alerts (new, and escalations of open ones); each (alert, severity) is delivered once."""
        require_aware("since", since)
        resources = info.context.resources
        subscription = await resources.hub.subscribe(ALERTS_CHANNEL)
        floor = SEVERITY_RANK[min_severity] if min_severity is not None else 0
        delivered: set[tuple[uuid.UUID, str]] = set()
        newest = since or datetime.now(UTC)

        def wanted(alert: tables.Alert) -> bool:
            return (
                (machine_id is None or alert.machine_id == machine_id)
                and (model_type is None or alert.model_type == model_type)
                and SEVERITY_RANK[alert.severity] >= floor
                and (alert.id, alert.severity.value) not in delivered
            )

        async def created_after(instant: datetime) -> list[tables.Alert]:
            query = sa.select(tables.Alert).where(tables.Alert.created_at > instant)
            if machine_id is not None:
                query = query.where(tables.Alert.machine_id == machine_id)
            if model_type is not None:
                query = query.where(tables.Alert.model_type == model_type)
            async with resources.reads() as session:
                return list((await session.scalars(query.order_by(tables.Alert.created_at, tables.Alert.id))).all())

        try:
            backlog = await created_after(since) if since is not None else []
            while True:
                for alert in backlog:
                    if wanted(alert):
                        delivered.add((alert.id, alert.severity.value))
                        newest = max(newest, alert.created_at)
                        yield Alert.from_row(alert)  # no loader-backed fields: no per-event loaders needed
                item = await subscription.next()
                backlog = await created_after(newest) if isinstance(item, Reconnected) else [_restored_alert(item)]
        finally:
            subscription.close()
