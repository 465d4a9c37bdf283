"""Running one training job: load data, fit and validate for real, store the version, maybe promote.

The same function runs in ARQ workers and in the embedded InlineQueue. CPU-bound fitting runs in a
thread so this event loop keeps heartbeating; the fit reports progress between its steps through a
callback, which is also where a cancellation request stops it (cooperatively, before the next step).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from app.db.engine import transaction
from app.db.tables import ModelVersion, TrainingJob
from app.enums import MetricsSource, VersionStage
from app.ml.drift import build_reference_profile
from app.ml.model_types import get_model_type
from app.ml.model_types.base import FittedModel, InsufficientDataError, ModelType
from app.ml.validation import TrainingOutcome, compare_with_champion, train_and_validate
from app.services.models import job_lifecycle, liveness, registry, windows
from app.services.models.liveness import TrainingCancelled
from app.services.tracking.performance import evaluation_row

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.training")

#: Share of the job's progress bar each phase ends at; the fit's own steps fill LOAD..FIT.
LOADED, FITTED, COMPARED = 0.1, 0.8, 0.9


@dataclass(frozen=True)
class Candidate:
    outcome: TrainingOutcome
    improvement: float | None
    promote: bool
    had_champion: bool
    profile: dict[str, Any]


async def run_training_job(resources: Resources, job_id: uuid.UUID, worker_id: str) -> None:
    """Drive one job to a terminal state (or back to PENDING if this worker is being stopped)."""
    try:
        job = await liveness.with_retries(
            lambda: job_lifecycle.mark_running(resources, job_id, worker_id),
            within_s=resources.settings.job_stale_after_s,
            what=f"claiming job {job_id}",
        )  # still failing: the row stays PENDING and the sweeper hands it out again
    except asyncio.CancelledError:
        # Stopped while claiming (say, while the RUNNING snapshot was being published): the claim may
        # have been committed already. ``requeue`` changes only a job this worker holds, so it is safe
        # either way, and without it the job would stay RUNNING until the sweeper declared it lost.
        await job_lifecycle.requeue(resources, job_id, worker_id)
        raise
    if job is None:
        return  # cancelled, finished or taken by another worker: nothing to do
    stop = threading.Event()
    beating = asyncio.create_task(liveness.heartbeat(resources, job_id, worker_id, stop))
    budget = asyncio.timeout(resources.settings.job_timeout_s)
    try:
        async with budget:
            await _train(resources, job, worker_id, stop)
    except TrainingCancelled:
        await job_lifecycle.mark_cancelled(resources, job_id, worker_id)
    except TimeoutError as error:
        if not budget.expired():  # a database call that hung past its own bound, not the job's budget
            await _fail(resources, job_id, worker_id, _reason(error))
        else:
            await _fail(resources, job_id, worker_id, f"timed out after {resources.settings.job_timeout_s:g} s")
    except asyncio.CancelledError:
        # Aborted on request, or the worker is shutting down: settle the row before letting go.
        stop.set()
        if await job_lifecycle.mark_cancelled(resources, job_id, worker_id, only_if_requested=True) is None:
            await job_lifecycle.requeue(resources, job_id, worker_id)
        raise
    except InsufficientDataError as error:
        await _fail(resources, job_id, worker_id, f"not enough data: {error}")
    except Exception as error:
        logger.exception("training job %s failed", job_id)
        await _fail(resources, job_id, worker_id, _reason(error))
    finally:
        stop.set()
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


def _reason(error: Exception) -> str:
    cause = "database unavailable: " if liveness.transient(error) else ""
    return f"{cause}{type(error).__name__}: {error}"


async def _fail(resources: Resources, job_id: uuid.UUID, worker_id: str, message: str) -> None:
    """Record the failure with its reason, retried while the database is away; past that, the sweeper's turn."""
    try:
        await liveness.with_retries(
            lambda: job_lifecycle.fail(resources, job_id, message, worker_id),
            within_s=resources.settings.job_stale_after_s,
            what=f"recording the failure of job {job_id}",
        )
    except Exception:
        # The heartbeat stops with this coroutine, so the sweeper fails the row once the database is back.
        logger.exception("could not record the failure of job %s (%s); the sweeper will", job_id, message)


async def _train(resources: Resources, job: TrainingJob, worker_id: str, stop: threading.Event) -> None:
    model_type = get_model_type(job.model_type.value)
    patience = resources.settings.job_stale_after_s
    report = liveness.ProgressReporter(resources, job.id, worker_id, stop)
    try:
        await report.step("load data", 0.0)
        frame, champion = await liveness.with_retries(
            lambda: _load(resources, job), within_s=patience, what=f"loading the data of job {job.id}"
        )
        await report.step("features", LOADED)
        candidate = await asyncio.to_thread(_fit_and_compare, model_type, frame, champion, report.from_thread)
        await report.step("store", COMPARED)
        await liveness.with_retries(
            lambda: _store(resources, job, worker_id, frame, candidate),
            within_s=patience,
            what=f"storing the version of job {job.id}",
        )
    finally:
        await report.close()


async def _load(resources: Resources, job: TrainingJob) -> tuple[pd.DataFrame, ModelVersion | None]:
    async with resources.reads() as session:
        frame = await windows.training_frame(
            session, job.machine_id, resources.settings.training_window_days, job.train_from, job.train_to
        )
        champion = await registry.champion_of(session, job.machine_id, job.model_type)
    return frame, champion


def _fit_and_compare(
    model_type: ModelType,
    frame: pd.DataFrame,
    champion: ModelVersion | None,
    progress: Callable[[str, float], None],
) -> Candidate:
    """Everything CPU-bound, run in a worker thread."""
    outcome = train_and_validate(
        model_type, frame, progress=lambda step, f: progress(step, LOADED + f * (FITTED - LOADED))
    )
    progress("compare", FITTED)
    improvement, promote = None, True
    if champion is not None:
        current: FittedModel = model_type.load(champion.artifact)
        comparison = compare_with_champion(model_type, outcome, current, frame)
        improvement, promote = comparison.relative_change, comparison.candidate_better
    columns = [column for column in ("energy_kwh", *outcome.model.features) if column in frame.columns]
    profile = build_reference_profile(
        {column: frame[column].to_numpy(dtype=float, na_value=np.nan) for column in dict.fromkeys(columns)},
        index=frame.index,
    )
    return Candidate(outcome, improvement, promote, champion is not None, profile)


async def _store(
    resources: Resources, job: TrainingJob, worker_id: str, frame: pd.DataFrame, candidate: Candidate
) -> None:
    """Version, validation metrics, promotion and COMPLETED in one transaction: all of it or none."""
    outcome = candidate.outcome
    model = outcome.model
    async with transaction(resources.sessions) as session:
        version = ModelVersion(
            machine_id=job.machine_id,
            model_type=job.model_type,
            version=await registry.next_version_number(session, job.machine_id, job.model_type),
            stage=VersionStage.CANDIDATE,
            artifact=model.to_bytes(),
            features=list(model.features),
            hyperparameters=_json_safe(model.hyperparameters),
            trained_from=frame.index[0].to_pydatetime(),
            trained_to=frame.index[-1].to_pydatetime(),
            training_rows=len(frame),
            reference_profile=candidate.profile,
            training_job_id=job.id,
        )
        session.add(version)
        await session.flush()
        metrics = outcome.metrics.as_dict()
        session.add(
            evaluation_row(
                metrics=metrics,
                extra={
                    "primary_metric": get_model_type(job.model_type.value).primary_metric,
                    "primary_value": outcome.primary_value,
                    "parameter_count": model.parameter_count,
                },
                machine_id=job.machine_id,
                model_type=job.model_type,
                model_version_id=version.id,
                source=MetricsSource.TRAINING_VALIDATION,
                window_start=outcome.validation_window.start.to_pydatetime(),
                window_end=outcome.validation_window.end.to_pydatetime(),
                sample_count=int(metrics["sample_count"] or 0),
                drift_detected=False,
            )
        )
        # A fit on data before an instant (train_to) measures savings; it never replaces a live champion.
        if candidate.promote and (job.train_to is None or not candidate.had_champion):
            reason = (
                f"beat the champion on validation ({_percent(candidate.improvement)})"
                if candidate.had_champion
                else "first version of the series"
            )
            await registry.make_champion(session, version, job.requested_by, f"training job {job.id}: {reason}")
        completed = await job_lifecycle.complete(session, job.id, worker_id, version.id, candidate.improvement)
        if completed is None:
            raise TrainingCancelled  # cancelled or taken away while storing: roll the version back
    await job_lifecycle.publish_job(resources, completed)


def _percent(change: float | None) -> str:
    return "no comparable metric" if change is None else f"{change:+.1%} on the primary metric"


def _json_safe(value: Any) -> Any:
    """Hyperparameters may hold numpy scalars; the registry stores plain JSON."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
