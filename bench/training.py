"""Training benchmark: the full pipeline (check, split, fit, validate, refit) per model type.

    .venv/bin/python bench/training.py [--days 365 730] [--machine press-line-1] [--models baseline ...]

For each model type and window length it generates hourly synthetic readings for one demo machine
(``app.ml.synthetic``), runs ``app.ml.validation.train_and_validate`` once, and prints the wall time
of every step (timed through the progress callback the job runner also uses) together with the
validation metrics, so a speed-up that costs accuracy shows in the same table.

BLAS threading matters on small hosts: with OpenBLAS's default thread pool on a busy 2-core
machine the linear algebra of a baseline ran 10-20x slower than with ``OPENBLAS_NUM_THREADS=1``.
The environment is printed with the results so runs can be compared.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field

from app.ml.model_types import MODEL_TYPE_NAMES, get_model_type
from app.ml.synthetic import DEMO_FLEET, generate_readings
from app.ml.validation import train_and_validate

MACHINES = {profile.name: profile for profile in DEMO_FLEET}
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class FitTiming:
    model_type: str
    days: int
    rows: int
    seconds: float
    #: Wall time of each pipeline step ("features", "fit", "validate", "refit").
    step_seconds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    primary_metric: str = ""


def measure_fit_time(model_name: str, days: int, machine: str = "press-line-1", seed: int = 0) -> FitTiming:
    """One full pipeline run on ``days`` of hourly readings of ``machine``."""
    model_type = get_model_type(model_name)
    frame = generate_readings(MACHINES[machine], "2023-01-01", days, seed=seed, anomaly_events=days // 14)
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    outcome = train_and_validate(model_type, frame, progress=lambda step, _: marks.append((step, time.perf_counter())))
    seconds = time.perf_counter() - started
    steps = {step: end - begin for (step, begin), (_, end) in zip(marks, marks[1:], strict=False)}
    return FitTiming(
        model_name, days, len(frame), seconds, steps, outcome.metrics_dict(model_type), model_type.primary_metric
    )


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
        f"{'model type':<17}{'days':>5}{'rows':>7}{'total s':>9}{'fit s':>8}{'refit s':>8}{'valid s':>8}"
        f"  {'primary':<15}{'value':>7}{'cv_rmse':>8}{'nmbe':>8}{'mase':>7}{'f1':>7}"
    )
    for timing in timings:
        metrics = timing.metrics
        print(
            f"{timing.model_type:<17}{timing.days:>5}{timing.rows:>7}{timing.seconds:>9.2f}"
            f"{timing.step_seconds.get('fit', 0.0):>8.2f}{timing.step_seconds.get('refit', 0.0):>8.2f}"
            f"{timing.step_seconds.get('validate', 0.0):>8.2f}  {timing.primary_metric:<15}"
            f"{_number(metrics.get(timing.primary_metric)):>7}{_number(metrics.get('cv_rmse')):>8}"
            f"{_number(metrics.get('nmbe')):>8}{_number(metrics.get('mase')):>7}{_number(metrics.get('f1')):>7}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[365, 730])
    parser.add_argument("--machine", choices=sorted(MACHINES), default="press-line-1")
    parser.add_argument("--models", nargs="+", choices=MODEL_TYPE_NAMES, default=list(MODEL_TYPE_NAMES))
    arguments = parser.parse_args()
    threads = ", ".join(f"{name}={os.environ.get(name, 'unset')}" for name in THREAD_VARIABLES)
    print(f"Training pipeline on hourly synthetic '{arguments.machine}' readings ({os.cpu_count()} CPUs; {threads})")
    print_fit_times(measure_fit_times(tuple(arguments.days), tuple(arguments.models), arguments.machine))


if __name__ == "__main__":
    main()
