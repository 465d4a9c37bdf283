"""Interventions: dated changes to a machine, and the BASELINE frozen before each one.

Savings are only auditable against a baseline that never saw the reporting period, so recording an
intervention freezes one at once: the BASELINE champion if it was trained on data before ``at``,
otherwise a normal training job fits one on the data before ``at`` (``train_to``) and its version is
frozen when the job completes. Until ``settle`` has stored that, reads already report the completed
job's version (one outer join), so nobody waits for the periodic pass.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.constants import SYSTEM_ACTOR
from app.db.engine import transaction
from app.db.tables import Intervention, TrainingJob
from app.enums import InterventionKind, JobStatus, ModelType, TriggerType
from app.errors import InvalidInput, NotFound
from app.services.access import audit
from app.services.checks import require_aware, require_label
from app.services.fleet import machines
from app.services.models import job_lifecycle, registry, windows

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.interventions")

MAX_DESCRIPTION_LENGTH = 2_000


@dataclass(frozen=True)
class InterventionView:
    """An intervention as readers see it: ``baseline_version_id`` includes a just-completed baseline job."""

    id: uuid.UUID
    machine_id: uuid.UUID
    at: datetime
    kind: InterventionKind
    description: str
    baseline_version_id: uuid.UUID | None
    baseline_job_id: uuid.UUID | None
    created_at: datetime
    created_by: str | None


def _query() -> sa.Select[Intervention, uuid.UUID | None]:
    completed = sa.case((TrainingJob.status == JobStatus.COMPLETED, TrainingJob.model_version_id), else_=None)
    return sa.select(Intervention, completed).outerjoin(TrainingJob, TrainingJob.id == Intervention.baseline_job_id)


def _view(row: Intervention, completed_version: uuid.UUID | None) -> InterventionView:
    return InterventionView(
        id=row.id,
        machine_id=row.machine_id,
        at=row.at,
        kind=row.kind,
        description=row.description,
        baseline_version_id=row.baseline_version_id or completed_version,
        baseline_job_id=row.baseline_job_id,
        created_at=row.created_at,
        created_by=row.created_by,
    )


async def get(session: AsyncSession, intervention_id: uuid.UUID) -> InterventionView | None:
    found = (await session.execute(_query().where(Intervention.id == intervention_id))).first()
    return _view(*found) if found else None


async def of_machines(
    session: AsyncSession, machine_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[InterventionView]]:
    """Newest first per machine (the DataLoader batch of ``Machine.interventions``)."""
    rows = await session.execute(
        _query().where(Intervention.machine_id.in_(machine_ids)).order_by(Intervention.at.desc(), Intervention.id)
    )
    grouped: dict[uuid.UUID, list[InterventionView]] = {}
    for row, version in rows:
        grouped.setdefault(row.machine_id, []).append(_view(row, version))
    return grouped


async def first_after(
    session: AsyncSession, machine_id: uuid.UUID, after: datetime, kinds: Sequence[InterventionKind]
) -> InterventionView | None:
    """The earliest intervention of one of ``kinds`` strictly after ``after``."""
    found = (
        await session.execute(
            _query()
            .where(Intervention.machine_id == machine_id, Intervention.at > after, Intervention.kind.in_(kinds))
            .order_by(Intervention.at)
            .limit(1)
        )
    ).first()
    return _view(*found) if found else None


async def measure_in_effect(session: AsyncSession, machine_id: uuid.UUID, since: datetime, latest: datetime) -> bool:
    """An efficiency measure after ``since`` (a baseline's training window) and on or before ``latest``."""
    measure = await first_after(session, machine_id, since, [InterventionKind.EFFICIENCY_MEASURE])
    return measure is not None and measure.at <= latest


#: Opens the transaction the intervention is written in: ``Context.write`` for a GraphQL mutation (its
#: audit entry joins that transaction), ``transaction(resources.sessions)`` for everyone else.
Writer = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def record(
    resources: Resources,
    machine_id: uuid.UUID,
    at: datetime,
    kind: InterventionKind,
    description: str,
    actor: str | None,
    *,
    write: Writer | None = None,
) -> InterventionView:
    """Store the intervention with its frozen baseline, or with the job fitting one, in ``write``'s transaction.

    The baseline job (when the champion saw data from ``at`` on) is started first, in a transaction of
    its own: on SQLite a second write transaction cannot open while ``write``'s is held, and the
    intervention row must name the job. So a recording that fails after that (the database, or the
    audit entry) leaves the job running; its version never replaces the champion, and recording the
    intervention again while it runs attaches it (``_start_baseline_job``) instead of fitting a second one.
    """
    require_aware("at", at)
    if at > datetime.now(UTC):
        raise InvalidInput(f"at must not be in the future (got {at.isoformat()})", field="at")
    cleaned = require_label("description", description, MAX_DESCRIPTION_LENGTH)
    async with resources.reads() as session:
        await machines.require(session, machine_id)
        champion = await registry.champion_of(session, machine_id, ModelType.BASELINE)
    job_id = None
    if champion is None or champion.trained_to >= at:
        job_id = await _start_baseline_job(resources, machine_id, at, kind, actor or SYSTEM_ACTOR)
    async with write() if write is not None else transaction(resources.sessions) as session:
        await machines.require(session, machine_id)
        row = Intervention(
            machine_id=machine_id, at=at, kind=kind, description=cleaned, created_by=actor, baseline_job_id=job_id
        )
        session.add(row)
        await session.flush()
        if job_id is None:
            await _freeze_champion(session, row)  # the champion may have changed since it was read: settle retries
        view = await get(session, row.id)
    assert view is not None
    return view


async def _freeze_champion(session: AsyncSession, row: Intervention) -> bool:
    """Freeze the BASELINE champion if it never saw data from ``at`` on; True when it did."""
    champion = await registry.champion_of(session, row.machine_id, ModelType.BASELINE)
    if champion is None or champion.trained_to >= row.at:
        return False
    row.baseline_version_id = champion.id
    return True


async def _start_baseline_job(
    resources: Resources, machine_id: uuid.UUID, at: datetime, kind: InterventionKind, requested_by: str
) -> uuid.UUID | None:
    """Fit a BASELINE on the data before ``at`` when there is enough of it; the job's id, or None.

    When a BASELINE job is already active the trigger answers with it: it is this intervention's
    baseline only if it also stops at ``at`` (an earlier attempt to record the same change); any
    other job does not, so nothing is attached and ``settle`` tries again on its next pass.
    """
    async with resources.reads() as session:
        history = await windows.span(session, machine_id, None, at)
    if not windows.has_history(ModelType.BASELINE, *history):
        logger.info("machine %s: too little data before %s to fit a baseline", machine_id, at)
        return None
    outcome = await job_lifecycle.trigger(
        resources,
        machine_id,
        ModelType.BASELINE,
        TriggerType.MANUAL,
        reason=f"baseline on the data before the {kind.name.lower().replace('_', ' ')} of {at.isoformat()}",
        requested_by=requested_by,
        train_to=at,
    )
    if outcome.triggered or outcome.job.train_to == at:
        return outcome.job.id
    return None


async def settle(resources: Resources) -> int:
    """The periodic pass: store baselines of completed jobs (audited), start missing ones. Returns frozen."""
    async with resources.reads() as session:
        pending = (await session.execute(_query().where(Intervention.baseline_version_id.is_(None)))).all()
        jobs = {
            job.id: job
            for job in await session.scalars(
                sa.select(TrainingJob).where(TrainingJob.id.in_([row.baseline_job_id for row, _ in pending]))
            )
        }
    frozen = 0
    for row, completed_version in pending:
        job = jobs.get(row.baseline_job_id) if row.baseline_job_id else None
        if completed_version is None and job is not None:
            continue  # still training, or failed: a failed fit is reported, not retried forever
        async with transaction(resources.sessions) as session:
            current = await session.get(Intervention, row.id, with_for_update=True)
            if current is None or current.baseline_version_id is not None:
                continue
            if completed_version is not None:
                current.baseline_version_id = completed_version
            elif not await _freeze_champion(session, current):
                current = None
            if current is not None:
                assert current.baseline_version_id is not None  # set by either branch above
                await audit.record(
                    session,
                    [
                        audit.AuditRecord(
                            actor=SYSTEM_ACTOR,
                            operation="freezeBaseline",
                            outcome=audit.OUTCOME_OK,
                            target_ids=[row.id, current.baseline_version_id],
                            details={"intervention_at": row.at.isoformat()},
                        )
                    ],
                )
                frozen += 1
        if current is None:
            job_id = await _start_baseline_job(
                resources, row.machine_id, row.at, row.kind, row.created_by or SYSTEM_ACTOR
            )
            if job_id is not None:
                async with transaction(resources.sessions) as session:
                    await session.execute(
                        sa.update(Intervention).where(Intervention.id == row.id).values(baseline_job_id=job_id)
                    )
    return frozen


def require_of_machine(view: InterventionView | None, intervention_id: uuid.UUID, machine_id: uuid.UUID) -> None:
    if view is None:
        raise NotFound(f"intervention {intervention_id} does not exist", field="interventionId")
    if view.machine_id != machine_id:
        raise InvalidInput(
            f"intervention {intervention_id} belongs to machine {view.machine_id}, not {machine_id}",
            field="interventionId",
        )
