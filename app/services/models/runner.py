"""The training task of the embedded mode's in-process queue (ARQ workers run it through workers.tasks).

The training module pulls in the whole ML stack (statsmodels, Prophet, scikit-learn: seconds of imports),
so it is imported on the first job, not by every process that opens resources.
"""

from __future__ import annotations

import uuid

from app.runtime.queue import JobRunner
from app.runtime.resources import Resources, worker_identity


def inline_runner(resources: Resources) -> JobRunner:
    identity = worker_identity()

    async def train(job_id: uuid.UUID) -> None:
        from app.services.models.training import run_training_job

        await run_training_job(resources, job_id, identity)

    return train
