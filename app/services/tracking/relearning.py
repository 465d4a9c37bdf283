"""Re-learning after a change: the ANOMALY and FORECAST series start again from an equipment or
operational change.

A model trained across a change averages two machines that no longer exist together; retraining
on the default window straddles the change again. So once the series' policy allows automatic
retraining and enough readings follow the newest such change (the model type's minimum history and
the policy's minimum samples), one job is started with ``train_from`` = the change. A series that
already has a job training from that change on (whatever became of it) is left alone, so a
failed fit is reported once, not retried every pass. Without auto-retrain, operators do the same
by hand with ``triggerRetrain(trainFrom:)``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa

from app.constants import SYSTEM_ACTOR
from app.db.tables import Intervention, ModelVersion, TrainingJob
from app.enums import RELEARN_AFTER, ModelType, TriggerType, VersionStage
from app.services.models import job_lifecycle, windows
from app.services.tracking import policies

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.relearning")

RELEARNING_TYPES = (ModelType.ANOMALY, ModelType.FORECAST_ARIMA, ModelType.FORECAST_PROPHET)


async def relearn_after_changes(resources: Resources) -> int:
    """Start re-learning jobs where due. Returns jobs started."""
    newest = (
        sa.select(Intervention.machine_id, sa.func.max(Intervention.at).label("at"))
        .where(Intervention.kind.in_(RELEARN_AFTER))
        .group_by(Intervention.machine_id)
        .subquery()
    )
    async with resources.reads() as session:
        # Champions that still learned from before the machine's newest change.
        due = (
            await session.execute(
                sa.select(ModelVersion.machine_id, ModelVersion.model_type, newest.c.at)
                .join(newest, newest.c.machine_id == ModelVersion.machine_id)
                .where(
                    ModelVersion.stage == VersionStage.CHAMPION,
                    ModelVersion.model_type.in_(RELEARNING_TYPES),
                    ModelVersion.trained_from < newest.c.at,
                    ~sa.exists().where(
                        TrainingJob.machine_id == ModelVersion.machine_id,
                        TrainingJob.model_type == ModelVersion.model_type,
                        TrainingJob.train_from >= newest.c.at,
                    ),
                )
            )
        ).all()
        chosen = []
        for machine_id, model_type, at in due:
            policy = (await policies.get(session, machine_id, model_type)).settings
            count, first, last = await windows.span(session, machine_id, at)
            enough = count >= policy.min_samples and windows.has_history(model_type, count, first, last)
            if policy.auto_retrain and enough:
                chosen.append((machine_id, model_type, at))
    started = 0
    for machine_id, model_type, at in chosen:
        outcome = await job_lifecycle.trigger(
            resources,
            machine_id,
            model_type,
            TriggerType.SCHEDULED,
            reason=f"automatic: re-learn from the change of {at.isoformat()} on",
            requested_by=SYSTEM_ACTOR,
            train_from=at,
        )
        started += outcome.triggered
    if started:
        logger.info("started %d re-learning job(s) after equipment or operational changes", started)
    return started
