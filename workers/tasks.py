"""ARQ task functions. Arguments are ids only; everything else is read from the database."""

from __future__ import annotations

import uuid
from typing import Any

from arq.typing import WorkerCoroutine

from app.maintenance.periodic import Periodic
from app.services.models.training import run_training_job


async def train_model(ctx: dict[str, Any], job_id: str) -> None:
    await run_training_job(ctx["resources"], uuid.UUID(job_id), ctx["worker_id"])


def run_periodic(task: Periodic) -> WorkerCoroutine:
    """The ARQ cron coroutine of a registered periodic task."""

    async def run(ctx: dict[Any, Any], *_: Any, **__: Any) -> object:
        return await task.action(ctx["resources"])

    run.__qualname__ = run.__name__ = task.name.replace("-", "_")
    return run
