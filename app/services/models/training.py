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
from app.db.tables import ModelVersion, PerformanceMetrics, TrainingJob
from app.enums import MetricsSource, VersionStage
from app.ml.drift import build_reference_profile
from app.ml.model_types import get_model_type
from app.ml.model_types.base import FittedModel, InsufficientDataError, ModelType
from app.ml.validation import TrainingOutcome, compare_with_champion, train_and_validate
from app.services.fleet import readings
from app.services.models import job_lifecycle, registry

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.training")

#: Share of the job's progress bar each phase ends at; the fit's own steps fill LOAD..FIT.
LOADED, FITTED, COMPARED = 0.1, 0.8, 0.9
METRIC_COLUMNS = ("r_squared", "rmse", "mae", "mape", "cv_rmse", "nmbe", "precision", "recall", "f1")


class TrainingCancelled(Exception):
    """Raised between steps once a cancellation was requested."""


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
        job = await job_lifecycle.mark_running(resources, job_id, worker_id)
    except asyncio.CancelledError:
        # Stopped while claiming (say, while the RUNNING snapshot was being published): the claim may
        # have been committed already. ``requeue`` changes only a job this worker holds, so it is safe
        # either way, and without it the job would stay RUNNING until the sweeper declared it lost.
        await job_lifecycle.requeue(resources, job_id, worker_id)
        raise
    if job is None:
        return  # cancelled, finished or taken by another worker: nothing to do
    stop = threading.Event()
    beating = asyncio.create_task(_heartbeat(resources, job_id, worker_id, stop))
    try:
        async with asyncio.timeout(resources.settings.job_timeout_s):
            await _train(resources, job, worker_id, stop)
    except TrainingCancelled:
        await job_lifecycle.mark_cancelled(resources, job_id, worker_id)
    except TimeoutError:
        await job_lifecycle.fail(
            resources, job_id, f"timed out after {resources.settings.job_timeout_s:g} s", worker_id
        )
    except asyncio.CancelledError:
        # Aborted on request, or the worker is shutting down: settle the row before letting go.
        stop.set()
        if await job_lifecycle.mark_cancelled(resources, job_id, worker_id, only_if_requested=True) is None:
            await job_lifecycle.requeue(resources, job_id, worker_id)
        raise
    except InsufficientDataError as error:
        await job_lifecycle.fail(resources, job_id, f"not enough data: {error}", worker_id)
    except Exception as error:
        logger.exception("training job %s failed", job_id)
        await job_lifecycle.fail(resources, job_id, f"{type(error).__name__}: {error}", worker_id)
    finally:
        stop.set()
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def _heartbeat(resources: Resources, job_id: uuid.UUID, worker_id: str, stop: threading.Event) -> None:
    """Prove liveness and notice cancellation requests, every JOB_HEARTBEAT_S."""
    while not stop.is_set():
        await asyncio.sleep(resources.settings.job_heartbeat_s)
        try:
            if not await job_lifecycle.heartbeat(resources, job_id, worker_id):
                stop.set()
        except Exception:  # noqa: BLE001 - a missed beat is survivable; the next one retries
            logger.warning("heartbeat of job %s failed", job_id, exc_info=True)


async def _train(resources: Resources, job: TrainingJob, worker_id: str, stop: threading.Event) -> None:
    model_type = get_model_type(job.model_type.value)
    report = _Reporter(resources, job.id, worker_id, stop)
    try:
        await report.step("load data", 0.0)
        async with resources.reads() as session:
            frame = await readings.recent_frame(session, job.machine_id, resources.settings.training_window_days)
            champion = await registry.champion_of(session, job.machine_id, job.model_type)
        await report.step("features", LOADED)
        candidate = await asyncio.to_thread(_fit_and_compare, model_type, frame, champion, report.from_thread)
        await report.step("store", COMPARED)
        await _store(resources, job, worker_id, frame, candidate)
    finally:
        await report.close()


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
            PerformanceMetrics(
                machine_id=job.machine_id,
                model_type=job.model_type,
                model_version_id=version.id,
                source=MetricsSource.TRAINING_VALIDATION,
                window_start=outcome.validation_window.start.to_pydatetime(),
                window_end=outcome.validation_window.end.to_pydatetime(),
                sample_count=int(metrics["sample_count"] or 0),
                drift_detected=False,
                extra={
                    key: value for key, value in metrics.items() if key not in METRIC_COLUMNS and key != "sample_count"
                }
                | {
                    "primary_metric": get_model_type(job.model_type.value).primary_metric,
                    "primary_value": outcome.primary_value,
                    "parameter_count": model.parameter_count,
                },
                **{column: metrics.get(column) for column in METRIC_COLUMNS},
            )
        )
        if candidate.promote:
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


class _Reporter:
    """Carries progress from the fitting thread to the database in order, and cancellation back to it.

    The thread only enqueues; one writer task stores the steps one after another, so subscribers see
    them in the order they happened.
    """

    def __init__(self, resources: Resources, job_id: uuid.UUID, worker_id: str, stop: threading.Event) -> None:
        self._resources = resources
        self._job_id = job_id
        self._worker_id = worker_id
        self._stop = stop
        self._loop = asyncio.get_running_loop()
        self._steps: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        self._writer = self._loop.create_task(self._write_steps())

    async def step(self, name: str, fraction: float) -> None:
        """A step taken on the event loop: stored before returning."""
        await self.flush()
        await self._record(name, fraction)
        if self._stop.is_set():
            raise TrainingCancelled

    def from_thread(self, name: str, fraction: float) -> None:
        if self._stop.is_set():
            raise TrainingCancelled
        self._loop.call_soon_threadsafe(self._steps.put_nowait, (name, fraction))

    async def _write_steps(self) -> None:
        while True:
            name, fraction = await self._steps.get()
            try:
                await self._record(name, fraction)
            finally:
                self._steps.task_done()

    async def _record(self, name: str, fraction: float) -> None:
        if not await job_lifecycle.record_progress(self._resources, self._job_id, self._worker_id, name, fraction):
            self._stop.set()

    async def flush(self) -> None:
        await self._steps.join()
        if self._stop.is_set():
            raise TrainingCancelled

    async def close(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
