"""Data-quality monitoring: gaps, stuck sensors and implausible jumps become DATA_QUALITY alerts.

Runs in every monitoring pass, per monitored machine (one with a champion), incrementally: it reads
the readings that arrived since the last check plus ``LOOK_BACK`` before them (the history the
machine's usual cadence and steps are measured on, and which lets a stuck run or a gap that began
earlier be joined), and remembers the newest reading it has seen in ``machines.quality_checked_to``.

A meter that goes silent has no new readings to check, so each pass also measures the silence since
its last reading against the **data clock**: the fleet's newest reading, which keeps moving while the
other meters report. Wall-clock time is not used: imported history, a replay and batch deliveries all
arrive later than they were measured, and would read as silence (docs/drift.md, "Data quality").

A finding reaching into the new readings, or a gap still open, raises (or folds into) the machine's
one unresolved DATA_QUALITY alert; a pass whose new readings are clean resolves it. A data-quality
fault is the machine's meter's, not one model's: the alert is stored on the machine's BASELINE series
(an alert names a series; ``CARRIER`` is the fixed one, whose policy holds the thresholds), and the
API and dashboard show it with the machine rather than with a model.
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
from app.ml.quality import QualityIssue, QualityThresholds, find_issues, open_gap
from app.services.alerting import alerts
from app.services.fleet import reading_stats, readings
from app.services.tracking import policies

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.quality")

#: The series a machine's DATA_QUALITY alert is stored on, and whose policy holds the thresholds.
CARRIER = ModelType.BASELINE
#: History read before the new readings: long enough for the usual cadence and steps to be the machine's.
LOOK_BACK = timedelta(days=7)
#: Most new readings one pass reads (a year imported at once is checked over its newest month).
MAX_NEW = timedelta(days=31)
#: A fault affecting a day or more of readings breaks daily reports and savings figures.
CRITICAL_HOURS = 24.0


async def check_all(resources: Resources, at_once: int) -> int:
    """Check every monitored machine's new readings and silence, ``at_once`` machines at a time (so one
    machine's round trips overlap another's computation); returns how many machines were checked."""
    async with resources.reads() as session:
        monitored = (
            await session.scalars(
                sa.select(ModelVersion.machine_id).where(ModelVersion.stage == VersionStage.CHAMPION).distinct()
            )
        ).all()
        latest = await reading_stats.last_readings(session)
    clock = max(latest.values(), default=None)
    gate = asyncio.Semaphore(at_once)

    async def checked(machine_id: uuid.UUID) -> bool:
        async with gate:
            try:
                return await check_machine(resources, machine_id, latest.get(machine_id), clock)
            except Exception:  # one machine's broken data must not stop the others
                logger.exception("data-quality check of machine %s failed", machine_id)
                return False

    return sum(await asyncio.gather(*(checked(machine_id) for machine_id in monitored)))


async def check_machine(
    resources: Resources, machine_id: uuid.UUID, latest: datetime | None, clock: datetime | None
) -> bool:
    """Check the readings newer than the last check and the silence since ``latest`` at ``clock``.

    False when there was nothing to check: no new readings and no gap open.
    """
    if latest is None or clock is None:
        return False
    async with resources.reads() as session:
        checked_to = await session.scalar(sa.select(Machine.quality_checked_to).where(Machine.id == machine_id))
        new = checked_to is None or latest > checked_to
        if not new and latest >= clock:
            return False  # checked already, and the meter's newest reading is the data clock: no silence
        settings = (await policies.get(session, machine_id, CARRIER)).settings
        new_from = max(checked_to or latest - LOOK_BACK, latest - MAX_NEW) if new else latest
        frame = await readings.window_frame(session, machine_id, new_from - LOOK_BACK, latest)
    thresholds = QualityThresholds(settings.gap_intervals, settings.stuck_hours, settings.jump_factor)
    issues = await asyncio.to_thread(find_issues, frame, thresholds) if new else []
    fresh = [issue for issue in issues if issue.end > pd.Timestamp(new_from)]
    silent = open_gap(frame.index, pd.Timestamp(clock), thresholds)
    if silent is not None:
        fresh = [silent, *fresh]  # the silence is what is happening now
    elif not new:
        return False
    async with transaction(resources.sessions) as session:
        raised = await _raise(session, resources, machine_id, fresh) if fresh else None
        if raised is None:
            await _resolve(session, machine_id, latest)
        if new:
            await session.execute(sa.update(Machine).where(Machine.id == machine_id).values(quality_checked_to=latest))
    await alerts.publish(resources, raised)
    return True


async def _raise(
    session: AsyncSession,
    resources: Resources,
    machine_id: uuid.UUID,
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
        model_type=CARRIER,
        alert_type=AlertType.DATA_QUALITY,
        severity=severity,
        message=f"{'Meter silent' if worst.still_open else 'Readings look wrong'}: {shown}{more}",
        details={
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "kinds": sorted({issue.kind.value for issue in issues}),
            "issues": [issue.to_dict() for issue in issues[:50]],
        },
        notify=resources.settings.webhook_urls,
    )


async def _resolve(session: AsyncSession, machine_id: uuid.UUID, clean_to: datetime) -> None:
    await alerts.resolve_by_system(
        session, machine_id, CARRIER, AlertType.DATA_QUALITY, f"Readings clean again up to {clean_to.isoformat()}"
    )
