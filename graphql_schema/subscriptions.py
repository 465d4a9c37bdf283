"""Root subscription: live job progress and alerts, from this process's single event-hub subscription.

Both subscribe to the hub *before* reading the database, so nothing published in between is lost;
events older than what was read are dropped, so nothing is shown twice or out of order. After a bus
reconnection the database is read again to fill the gap.

Over the websocket handlers of ``graphql_schema.live`` a live event is not yielded but handed to the
operation's delivery, which renders it once for every subscriber of the same operation text; what is
read from the database (the initial job, the ``since`` replay, re-reads after a gap) is yielded.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import sqlalchemy as sa
import strawberry

from app.constants import ALERTS_CHANNEL, JOBS_CHANNEL
from app.db import tables
from app.enums import ACTIVE_JOB_STATUSES, SEVERITY_RANK
from app.errors import NotFound
from app.runtime.events import Event, Reconnected
from app.services.checks import require_aware
from app.services.snapshots import restore
from graphql_schema.engine.context import Info
from graphql_schema.engine.live import live_delivery
from graphql_schema.enums import ModelType, Severity
from graphql_schema.types.alerts import Alert
from graphql_schema.types.jobs import TrainingJob

#: What a job update shows; an update that changes none of it is not sent again.
JOB_STATE_COLUMNS = ("status", "progress", "progress_step", "cancel_requested", "model_version_id")


@dataclass(frozen=True, slots=True)
class _Job:
    """A job row with what each subscriber's filter reads as plain attributes.

    Reading an ORM attribute costs about a microsecond; a live event is filtered by every subscriber.
    """

    row: tables.TrainingJob
    id: uuid.UUID
    machine_id: uuid.UUID
    model_type: ModelType
    active: bool
    #: The latest instant the row records: later snapshots of one job have later (or equal) moments.
    moment: datetime
    state: tuple[object, ...]

    @classmethod
    def of(cls, row: tables.TrainingJob) -> _Job:
        stamps = (row.created_at, row.started_at, row.heartbeat_at, row.finished_at)
        return cls(
            row=row,
            id=row.id,
            machine_id=row.machine_id,
            model_type=row.model_type,
            active=row.status in ACTIVE_JOB_STATUSES,
            moment=max(stamp for stamp in stamps if stamp),
            state=tuple(getattr(row, column) for column in JOB_STATE_COLUMNS),
        )


@dataclass(frozen=True, slots=True)
class _Alert:
    """An alert row with what each subscriber's filter reads as plain attributes (see ``_Job``)."""

    row: tables.Alert
    #: Each (alert, severity) is delivered once: an escalation is news, a repeat is not.
    key: tuple[uuid.UUID, str]
    machine_id: uuid.UUID
    model_type: ModelType
    rank: int
    created_at: datetime

    @classmethod
    def of(cls, row: tables.Alert) -> _Alert:
        return cls(
            row=row,
            key=(row.id, row.severity.value),
            machine_id=row.machine_id,
            model_type=row.model_type,
            rank=SEVERITY_RANK[row.severity],
            created_at=row.created_at,
        )


def _live_job(event: Event) -> _Job:
    """Every subscriber of a process receives the same Event object: rebuild its row once, not per subscriber."""
    return event.derive(_Job, lambda event: _Job.of(restore(tables.TrainingJob, event.payload)))


def _live_alert(event: Event) -> _Alert:
    return event.derive(_Alert, lambda event: _Alert.of(restore(tables.Alert, event.payload)))


def _fresh_loaders(info: Info) -> None:
    """A websocket's context lives as long as the connection; each yielded job gets loaders of its own."""
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
        delivery = live_delivery()
        subscription = await resources.hub.subscribe(JOBS_CHANNEL)
        last: dict[uuid.UUID, tuple[datetime, tuple[object, ...]]] = {}

        def is_new(job: _Job) -> bool:
            seen = last.get(job.id)
            if seen is not None and (job.moment < seen[0] or job.state == seen[1]):
                return False
            last[job.id] = (job.moment, job.state)
            return True

        async def current() -> _Job | None:
            async with resources.reads() as session:
                row = await session.get(tables.TrainingJob, job_id)
                return _Job.of(row) if row is not None else None

        try:
            if job_id is not None:
                job = await current()
                if job is None:
                    raise NotFound(f"training job {job_id} does not exist", field="jobId")
                is_new(job)
                yield TrainingJob.from_row(job.row)
                if not job.active:
                    return
            while True:
                item = await subscription.next()
                if isinstance(item, Reconnected):
                    if job_id is None or (job := await current()) is None or not is_new(job):
                        continue
                    _fresh_loaders(info)
                    yield TrainingJob.from_row(job.row)
                else:
                    job = _live_job(item)
                    if (
                        (job_id is not None and job.id != job_id)
                        or (machine_id is not None and job.machine_id != machine_id)
                        or (model_type is not None and job.model_type != model_type)
                        or not is_new(job)
                    ):
                        continue
                    if delivery is not None:
                        await delivery.send(item, partial(TrainingJob.from_row, job.row))
                    else:
                        _fresh_loaders(info)
                        yield TrainingJob.from_row(job.row)
                if job_id is not None and not job.active:
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
        delivery = live_delivery()
        subscription = await resources.hub.subscribe(ALERTS_CHANNEL)
        floor = SEVERITY_RANK[min_severity] if min_severity is not None else 0
        delivered: set[tuple[uuid.UUID, str]] = set()
        newest = since or datetime.now(UTC)

        def accept(alert: _Alert) -> bool:
            """Whether this subscriber shows ``alert``; if so, it counts as shown from now on."""
            nonlocal newest
            if (
                (machine_id is not None and alert.machine_id != machine_id)
                or (model_type is not None and alert.model_type != model_type)
                or alert.rank < floor
                or alert.key in delivered
            ):
                return False
            delivered.add(alert.key)
            newest = max(newest, alert.created_at)
            return True

        async def created_after(instant: datetime) -> list[_Alert]:
            query = sa.select(tables.Alert).where(tables.Alert.created_at > instant)
            if machine_id is not None:
                query = query.where(tables.Alert.machine_id == machine_id)
            if model_type is not None:
                query = query.where(tables.Alert.model_type == model_type)
            async with resources.reads() as session:
                rows = await session.scalars(query.order_by(tables.Alert.created_at, tables.Alert.id))
                return [_Alert.of(row) for row in rows]

        try:
            backlog = await created_after(since) if since is not None else []
            while True:
                for alert in backlog:
                    if accept(alert):
                        yield Alert.from_row(alert.row)  # no loader-backed fields: no per-event loaders needed
                item = await subscription.next()
                if isinstance(item, Reconnected):
                    backlog = await created_after(newest)
                    continue
                backlog = []
                alert = _live_alert(item)
                if accept(alert):
                    if delivery is not None:
                        await delivery.send(item, partial(Alert.from_row, alert.row))
                    else:
                        yield Alert.from_row(alert.row)
        finally:
            subscription.close()
