"""Scheduled retraining: every series with enough history gets a SCHEDULED job."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa

from app.db.tables import EnergyReading, Machine
from app.enums import ModelType, TriggerType
from app.ml.model_types import get_model_type
from app.services.models import job_lifecycle

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.scheduling")

#: Share of the minimum history that must actually hold readings (gaps are allowed, emptiness is not).
MIN_COVERAGE = 0.5


async def retrain_all_due(resources: Resources) -> int:
    """Trigger every sufficiently long series; series with an active job are left to it. Returns jobs started."""
    async with resources.reads() as session:
        spans = (
            await session.execute(
                sa.select(
                    Machine.id,
                    sa.func.count(EnergyReading.ts),
                    sa.func.min(EnergyReading.ts),
                    sa.func.max(EnergyReading.ts),
                )
                .join(EnergyReading, EnergyReading.machine_id == Machine.id)
                .group_by(Machine.id)
            )
        ).all()
    started = 0
    for machine_id, count, first, last in spans:
        span_days = (last - first).total_seconds() / 86_400
        for model_type in ModelType:
            needed = get_model_type(model_type.value).min_training_days
            if span_days < needed or count < needed * 24 * MIN_COVERAGE:
                continue
            outcome = await job_lifecycle.trigger(
                resources, machine_id, model_type, TriggerType.SCHEDULED, reason="scheduled retraining"
            )
            started += outcome.triggered
    logger.info("scheduled retraining started %d job(s)", started)
    return started
