"""Training benchmark: the full pipeline per model type, and trigger-to-RUNNING latency through ARQ.

    .venv/bin/python bench/training.py [--days 365 730] [--machine press-line-1] [--models baseline ...]
                                       [--latency-samples 30] [--skip-latency]

For each model type and window length it generates hourly synthetic readings for one demo machine
(``app.ml.synthetic``), runs ``app.ml.validation.train_and_validate`` once, and prints the wall time
of every step (timed through the progress callback the job runner also uses) together with the
validation metrics, so a speed-up that costs accuracy shows in the same table.

BLAS threading matters on small hosts: with OpenBLAS's default thread pool on a busy 2-core
machine the linear algebra of a baseline ran 10-20x slower than with ``OPENBLAS_NUM_THREADS=1``.
The environment is printed with the results so runs can be compared. Beside the wall time it prints the
CPU seconds of the run (this process and the CmdStan processes Prophet starts), which a busy host does
not inflate. Measured at load average ~20, `--days 365 --skip-latency`, CPU s before → after Prophet's
data file was written with ujson and its predictions computed from its parameters: baseline 0.26 →
0.36 (noise), anomaly 0.43 → 0.46, ARIMA 0.21 → 0.20, Prophet 2.08 → 1.49, validation metrics
unchanged (docs/scaling.md).

The latency section runs a real `kilowatch worker` against a scratch PostgreSQL database and its own
Redis DB, triggers retraining again and again, and reads each job's created_at → started_at gap
(both written by the database clock of one host).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from app.ml.model_types import MODEL_TYPE_NAMES, get_model_type
from app.ml.synthetic import DEMO_FLEET, generate_readings
from app.ml.validation import train_and_validate

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.config import Settings  # noqa: E402
from app.db.migrate import upgrade_to_head  # noqa: E402
from app.db.tables import TrainingJob  # noqa: E402
from app.enums import ACTIVE_JOB_STATUSES, ModelType, TriggerType  # noqa: E402
from app.runtime.resources import Resources, open_resources  # noqa: E402
from app.services.models import job_lifecycle  # noqa: E402
from tests.seeding import seeded_machine  # noqa: E402
from tests.support import scratch_postgres_database  # noqa: E402

MACHINES = {profile.name: profile for profile in DEMO_FLEET}
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class FitTiming:
    model_type: str
    days: int
    rows: int
    seconds: float
    #: CPU time of this process and of the child processes it waited for (CmdStan runs Prophet's fits):
    #: on a host shared with other work the wall time also counts waiting for a core, this does not.
    cpu_seconds: float
    #: Wall time of each pipeline step ("features", "fit", "validate", "refit").
    step_seconds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    primary_metric: str = ""


def measure_fit_time(model_name: str, days: int, machine: str = "press-line-1", seed: int = 0) -> FitTiming:
    """One full pipeline run on ``days`` of hourly readings of ``machine``."""
    model_type = get_model_type(model_name)
    frame = generate_readings(MACHINES[machine], "2023-01-01", days, seed=seed, anomaly_events=days // 14)
    marks: list[tuple[str, float]] = []
    started, cpu = time.perf_counter(), _cpu_seconds()
    outcome = train_and_validate(model_type, frame, progress=lambda step, _: marks.append((step, time.perf_counter())))
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    steps = {step: end - begin for (step, begin), (_, end) in zip(marks, marks[1:], strict=False)}
    return FitTiming(
        model_name, days, len(frame), seconds, cpu, steps, outcome.metrics_dict(model_type), model_type.primary_metric
    )


def _cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure_fit_times(
    days_options: tuple[int, ...] = (365, 730),
    model_names: tuple[str, ...] = MODEL_TYPE_NAMES,
    machine: str = "press-line-1",
) -> list[FitTiming]:
    return [measure_fit_time(name, days, machine) for name in model_names for days in days_options]


def _number(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_fit_times(timings: list[FitTiming]) -> None:
    print(
        f"{'model type':<17}{'days':>5}{'rows':>7}{'total s':>9}{'cpu s':>7}{'fit s':>8}{'refit s':>8}{'valid s':>8}"
        f"  {'primary':<15}{'value':>7}{'cv_rmse':>8}{'nmbe':>8}{'mase':>7}{'f1':>7}"
    )
    for timing in timings:
        metrics = timing.metrics
        print(
            f"{timing.model_type:<17}{timing.days:>5}{timing.rows:>7}{timing.seconds:>9.2f}{timing.cpu_seconds:>7.2f}"
            f"{timing.step_seconds.get('fit', 0.0):>8.2f}{timing.step_seconds.get('refit', 0.0):>8.2f}"
            f"{timing.step_seconds.get('validate', 0.0):>8.2f}  {timing.primary_metric:<15}"
            f"{_number(metrics.get(timing.primary_metric)):>7}{_number(metrics.get('cv_rmse')):>8}"
            f"{_number(metrics.get('nmbe')):>8}{_number(metrics.get('mase')):>7}{_number(metrics.get('f1')):>7}"
        )


async def measure_trigger_latency(samples: int) -> list[float]:
    """Seconds from a job's creation to a worker marking it RUNNING, for ``samples`` sequential triggers."""
    redis_url = f"redis://127.0.0.1:6379/{random.randrange(1, 16)}"
    async with scratch_postgres_database() as database_url:
        await upgrade_to_head(database_url)
        settings = Settings(database_url=database_url, redis_url=redis_url, retrain_schedule="off")
        environment = {
            **os.environ,
            "KILOWATCH_DATABASE_URL": database_url,
            "KILOWATCH_REDIS_URL": redis_url,
            "KILOWATCH_RETRAIN_SCHEDULE": "off",
            "KILOWATCH_LOG_LEVEL": "WARNING",
        }
        worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=environment, cwd=REPO)
        try:
            async with open_resources(settings) as resources:
                machine_id = await seeded_machine(resources, "latency-probe", days=20)
                await asyncio.sleep(3)  # let the worker start polling
                latencies = []
                for _ in range(samples):
                    outcome = await job_lifecycle.trigger(resources, machine_id, ModelType.BASELINE, TriggerType.MANUAL)
                    job = await _finished(resources, outcome.job.id)
                    assert job.started_at is not None, job.error_message
                    latencies.append((job.started_at - job.created_at).total_seconds())
                return latencies
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)


async def _finished(resources: Resources, job_id: uuid.UUID) -> TrainingJob:
    while True:
        async with resources.sessions() as session:
            job = await session.get(TrainingJob, job_id)
        if job is not None and job.status not in ACTIVE_JOB_STATUSES:
            return job
        await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[365, 730])
    parser.add_argument("--machine", choices=sorted(MACHINES), default="press-line-1")
    parser.add_argument("--models", nargs="+", choices=MODEL_TYPE_NAMES, default=list(MODEL_TYPE_NAMES))
    parser.add_argument("--latency-samples", type=int, default=30)
    parser.add_argument("--skip-latency", action="store_true")
    arguments = parser.parse_args()
    threads = ", ".join(f"{name}={os.environ.get(name, 'unset')}" for name in THREAD_VARIABLES)
    print(f"Training pipeline on hourly synthetic '{arguments.machine}' readings ({os.cpu_count()} CPUs; {threads})")
    print_fit_times(measure_fit_times(tuple(arguments.days), tuple(arguments.models), arguments.machine))
    if not arguments.skip_latency:
        latencies = asyncio.run(measure_trigger_latency(arguments.latency_samples))
        print(
            f"\ntrigger → RUNNING through ARQ, {len(latencies)} jobs: "
            f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {statistics.quantiles(latencies, n=20)[-1] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
