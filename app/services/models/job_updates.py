"""Live job progress for subscribers: the current state first, then every change, in order, once.

The feed subscribes to this process's event hub *before* reading the database, so nothing published in
between is lost; a snapshot older than one already yielded, or one that changes nothing a subscriber
sees, is dropped, so nothing is shown twice or out of order. After a bus reconnection the gap is filled
from the database: the watched job is read again, or, for a filtered feed, every matching job that changed
since the feed began (events published while the bus was down are gone; the rows are not).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from app.constants import JOBS_CHANNEL
from app.db import tables
from app.db.column_types import utc_now
from app.enums import ACTIVE_JOB_STATUSES, ModelType
from app.errors import NotFound
from app.runtime.events import Event, Reconnected
from app.runtime.resources import Resources
from app.services.snapshots import LiveRow, restore

#: Most jobs one reconnection re-reads for a filtered feed (oldest first); a larger gap shows the newest.
GAP_READ_LIMIT = 1_000
#: Clock difference between this process and the database allowed when asking what changed since a moment.
CLOCK_SLACK = timedelta(seconds=5)

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


def _live_job(event: Event) -> _Job:
    """Every subscriber of a process receives the same Event object: rebuild its row once, not per subscriber."""
    return event.derive(_Job, lambda event: _Job.of(restore(tables.TrainingJob, event.payload)))


async def follow(
    resources: Resources,
    *,
    job_id: uuid.UUID | None = None,
    machine_id: uuid.UUID | None = None,
    model_type: ModelType | None = None,
) -> AsyncGenerator[LiveRow[tables.TrainingJob], None]:
    """Matching job updates; with ``job_id``, that job's current state first and nothing after its terminal one."""
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

    began = utc_now() - CLOCK_SLACK

    async def changed_since_start() -> list[_Job]:
        """Matching jobs with any stamp after the feed began, oldest change first: what a gap may have hidden."""
        table = tables.TrainingJob
        stamps = (table.created_at, table.started_at, table.heartbeat_at, table.finished_at)
        query = select(table).where(or_(*(stamp >= began for stamp in stamps)))
        if machine_id is not None:
            query = query.where(table.machine_id == machine_id)
        if model_type is not None:
            query = query.where(table.model_type == model_type)
        async with resources.reads() as session:
            rows = (await session.scalars(query.order_by(table.created_at.desc()).limit(GAP_READ_LIMIT))).all()
        return sorted(map(_Job.of, rows), key=lambda read: read.moment)

    try:
        if job_id is not None:
            job = await current()
            if job is None:
                raise NotFound(f"training job {job_id} does not exist", field="jobId")
            is_new(job)
            yield LiveRow(job.row)
            if not job.active:
                return
        while True:
            item = await subscription.next()
            if isinstance(item, Reconnected) and job_id is None:
                for changed in await changed_since_start():
                    if is_new(changed):
                        yield LiveRow(changed.row)
                continue
            if isinstance(item, Reconnected):
                if (read := await current()) is None or not is_new(read):
                    continue
                job = read
                yield LiveRow(job.row)
            else:
                job = _live_job(item)
                if (
                    (job_id is not None and job.id != job_id)
                    or (machine_id is not None and job.machine_id != machine_id)
                    or (model_type is not None and job.model_type != model_type)
                    or not is_new(job)
                ):
                    continue
                yield LiveRow(job.row, item)
            if job_id is not None and not job.active:
                return
    finally:
        subscription.close()
