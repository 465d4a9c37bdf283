"""Data-quality monitoring: gaps, stuck sensors and implausible jumps become DATA_QUALITY alerts.

Runs in every monitoring pass, per monitored machine (one with a champion), incrementally: it reads
the readings that arrived since the last check plus ``LOOK_BACK`` before them (the history the
machine's usual cadence and steps are measured on, and which lets a stuck run or a gap that began
earlier be joined), and remembers the newest reading it has seen in ``machines.quality_checked_to``.

A finding reaching into the new readings raises (or folds into) the machine's one unresolved
DATA_QUALITY alert; a pass whose new readings are clean resolves it. The alert belongs to the
machine's first monitored series (in model-type order: BASELINE first), whose policy holds the
thresholds, since the readings are the machine's, not one model's.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import transaction
from app.db.tables import Machine, ModelVersion
from app.enums import AlertType, ModelType, Severity, VersionStage
from app.ml.quality import QualityIssue, QualityThresholds, find_issues
from app.services.alerting import alerts
from app.services.fleet import readings
from app.services.tracking import policies

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.quality")

#: History read before the new readings: long enough for the usual cadence and steps to be the machine's.
LOOK_BACK = timedelta(days=7)
#: Most new readings one pass reads (a year imported at once is checked over its newest month).
MAX_NEW = timedelta(days=31)
#: A fault affecting a day or more of readings breaks daily reports and savings figures.
CRITICAL_HOURS = 24.0


async def check_all(resources: Resources) -> int:
    """Check every monitored machine's new readings; returns how many machines were checked."""
    async with resources.reads() as session:
        rows = (
            await session.execute(
                sa.select(ModelVersion.machine_id, ModelVersion.model_type).where(
                    ModelVersion.stage == VersionStage.CHAMPION
                )
            )
        ).all()
    owners: dict[uuid.UUID, ModelType] = {}
    order = list(ModelType)
    for machine_id, model_type in rows:
        current = owners.get(machine_id)
        if current is None or order.index(model_type) < order.index(current):
            owners[machine_id] = model_type
    checked = 0
    for machine_id, model_type in owners.items():
        try:
            checked += await check_machine(resources, machine_id, model_type)
        except Exception:  # one machine's broken data must not stop the others
            logger.exception("data-quality check of machine %s failed", machine_id)
    return checked


async def check_machine(resources: Resources, machine_id: uuid.UUID, model_type: ModelType) -> bool:
    """Check the readings newer than the last check; False when there were none."""
    async with resources.reads() as session:
        latest = await readings.latest_instant(session, machine_id)
        checked_to = await session.scalar(sa.select(Machine.quality_checked_to).where(Machine.id == machine_id))
        if latest is None or (checked_to is not None and latest <= checked_to):
            return False
        settings = (await policies.get(session, machine_id, model_type)).settings
        new_from = max(checked_to or latest - LOOK_BACK, latest - MAX_NEW)
        frame = await readings.window_frame(session, machine_id, new_from - LOOK_BACK, latest)
    thresholds = QualityThresholds(settings.gap_intervals, settings.stuck_hours, settings.jump_factor)
    issues = await asyncio.to_thread(find_issues, frame, thresholds)
    fresh = [issue for issue in issues if issue.end > pd.Timestamp(new_from)]
    async with transaction(resources.sessions) as session:
        raised = await _raise(session, resources, machine_id, model_type, fresh) if fresh else None
        if raised is None:
            await _resolve(session, machine_id, model_type, latest)
        await session.execute(sa.update(Machine).where(Machine.id == machine_id).values(quality_checked_to=latest))
    await alerts.publish(resources, raised)
    return True


async def _raise(
    session: AsyncSession,
    resources: Resources,
    machine_id: uuid.UUID,
    model_type: ModelType,
    issues: list[QualityIssue],
) -> alerts.RaisedAlert:
    worst = max(issues, key=lambda issue: issue.hours)
    severity = Severity.CRITICAL if worst.hours >= CRITICAL_HOURS else Severity.WARNING
    shown = "; ".join(issue.describe() for issue in issues[:3])
    more = f" and {len(issues) - 3} more" if len(issues) > 3 else ""
    start, end = min(issue.start for issue in issues), max(issue.end for issue in issues)
    return await alerts.raise_alert(
        session,
        machine_id=machine_id,
        model_type=model_type,
        alert_type=AlertType.DATA_QUALITY,
        severity=severity,
        message=f"Readings look wrong: {shown}{more}",
        details={
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "kinds": sorted({issue.kind.value for issue in issues}),
            "issues": [issue.to_dict() for issue in issues[:50]],
        },
        notify=resources.settings.webhook_urls,
    )


async def _resolve(session: AsyncSession, machine_id: uuid.UUID, model_type: ModelType, clean_to: datetime) -> None:
    await alerts.resolve_by_system(
        session, machine_id, model_type, AlertType.DATA_QUALITY, f"Readings clean again up to {clean_to.isoformat()}"
    )
