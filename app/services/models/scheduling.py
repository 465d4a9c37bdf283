"""Scheduled retraining: every series with enough history gets a SCHEDULED job."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa

from app.db.tables import MachineReadingStats
from app.enums import ModelType, TriggerType
from app.services.models import job_lifecycle, windows

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.scheduling")


async def retrain_all_due(resources: Resources) -> int:
    """Trigger every sufficiently long series; series with an active job are left to it. Returns jobs started."""
    async with resources.reads() as session:
        spans = (
            await session.execute(
                # The statistics ingest keeps, not a count over every reading of the fleet.
                sa.select(
                    MachineReadingStats.machine_id,
                    MachineReadingStats.reading_count,
                    MachineReadingStats.first_reading_at,
                    MachineReadingStats.last_reading_at,
                )
            )
        ).all()
    started = 0
    for machine_id, count, first, last in spans:
        for model_type in ModelType:
            if not windows.has_history(model_type, count, first, last):
                continue
            outcome = await job_lifecycle.trigger(
                resources, machine_id, model_type, TriggerType.SCHEDULED, reason="scheduled retraining"
            )
            started += outcome.triggered
    logger.info("scheduled retraining started %d job(s)", started)
    return started
