"""Data-drift benchmark: Kilowatch's drift statistics beside plain scipy and Evidently 0.7.

    .venv/bin/python bench/drift.py [--sizes 100000 1000000] [--evidently-python /tmp/evidently-venv/bin/python]

For each size (rows per side) it draws ten features for a reference and a current window, three
of them with a material drift and one with an immaterial 0.02 SD shift, and times

* ``build_reference_profile`` — the training-time cost, once per model version;
* ``compare_to_profile``      — the production path (the reference is the stored profile);
* ``compare_arrays``          — exact statistics from raw samples, one call per feature;
* scipy                       — ``ks_2samp`` + ``wasserstein_distance`` + a numpy PSI per feature;
* Evidently                   — ``Report([DataDriftPreset()]).run(current, reference)``.

Evidently 0.7 needs ``pandas<3`` and so lives in its own virtualenv; it runs in a subprocess of the
interpreter given by ``--evidently-python`` on the same data (passed as an ``.npz`` file).
Our timings are the best of ``--repeat`` runs; the baselines run once (they take seconds).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from app.ml.drift import build_reference_profile, compare_arrays, compare_to_profile

FEATURE_COUNT = 10
EVIDENTLY_HINT = (
    "python3 -m venv /tmp/evidently-venv && /tmp/evidently-venv/bin/pip install 'evidently>=0.7,<0.8' "
    "'pandas<3', then pass --evidently-python /tmp/evidently-venv/bin/python"
)

#: Runs inside the Evidently virtualenv: loads the data, times one report, prints JSON.
EVIDENTLY_SCRIPT = """
import json, sys, time
import numpy as np, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
data = np.load(sys.argv[1])
names = [name[len("reference_"):] for name in data.files if name.startswith("reference_")]
reference = pd.DataFrame({name: data["reference_" + name] for name in names})
current = pd.DataFrame({name: data["current_" + name] for name in names})
started = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(current, reference)
seconds = time.perf_counter() - started
drifted = next(m["value"]["count"] for m in snapshot.dict()["metrics"] if "DriftedColumnsCount" in m["metric_name"])
print(json.dumps({"seconds": seconds, "drifted": int(drifted)}))
"""


def make_data(rows: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Reference and current windows; f6-f8 drift materially, f5 only by an immaterial 0.02 SD."""
    rng = np.random.default_rng(seed)

    def draw(shifted: bool) -> dict[str, np.ndarray]:
        idle = rng.random(rows) < 0.25
        return {
            "f0_normal": rng.normal(0.0, 1.0, rows),
            "f1_gamma": rng.gamma(3.0, 2.0, rows),
            "f2_point_mass": np.where(idle, 0.0, rng.gamma(9.0, 6.0, rows)),
            "f3_integer": rng.poisson(4.0, rows).astype(float),
            "f4_offset": rng.normal(1.0e5, 1.0, rows),
            "f5_tiny_shift": rng.normal(0.02 if shifted else 0.0, 1.0, rows),
            "f6_quarter_sd": rng.normal(0.25 if shifted else 0.0, 1.0, rows),
            "f7_scale": rng.gamma(3.0, 2.4 if shifted else 2.0, rows),
            "f8_temperature": rng.normal(16.0 if shifted else 10.0, 6.0, rows),
            "f9_normal": rng.normal(5.0, 2.0, rows),
        }

    return draw(False), draw(True)


def best_of(repeat: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def time_ours(
    reference: dict[str, np.ndarray], current: dict[str, np.ndarray], repeat: int
) -> tuple[float, float, float]:
    """Best times of the profile build, the production comparison and the exact per-feature comparison."""
    profile = build_reference_profile(reference)
    build = best_of(repeat, lambda: build_reference_profile(reference))
    production = best_of(repeat, lambda: compare_to_profile(profile, current))
    exact = best_of(repeat, lambda: [compare_arrays(reference[name], current[name]) for name in reference])
    return build, production, exact


def numpy_psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    reference_share = np.maximum(np.histogram(reference, edges)[0] / reference.size, 1e-4)
    current_share = np.maximum(np.histogram(current, edges)[0] / current.size, 1e-4)
    return float(np.sum((current_share - reference_share) * np.log(current_share / reference_share)))


def scipy_baseline(reference: dict[str, np.ndarray], current: dict[str, np.ndarray]) -> int:
    """The three statistics computed separately per feature; returns how many have KS p < 0.05."""
    significant = 0
    for name in reference:
        significant += stats.ks_2samp(reference[name], current[name]).pvalue < 0.05
        stats.wasserstein_distance(reference[name], current[name])
        numpy_psi(reference[name], current[name])
    return significant


@dataclass(frozen=True)
class EvidentlyResult:
    cell: str
    drifted: str


def run_evidently(
    python: str | None, reference: dict[str, np.ndarray], current: dict[str, np.ndarray], timeout: float
) -> EvidentlyResult:
    if python is None:
        return EvidentlyResult("not installed", "-")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "data.npz")
        np.savez(
            path,
            **{f"reference_{name}": values for name, values in reference.items()},
            **{f"current_{name}": values for name, values in current.items()},
        )
        try:
            completed = subprocess.run(
                [python, "-c", EVIDENTLY_SCRIPT, path], capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return EvidentlyResult(f"> {timeout:.0f} s", "-")
    if completed.returncode != 0:
        last_line = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return EvidentlyResult(f"failed: {last_line[:60]}", "-")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return EvidentlyResult(f"{result['seconds']:.2f} s", str(result["drifted"]))


def find_evidently(requested: str | None) -> str | None:
    if requested:
        return requested
    return sys.executable if importlib.util.find_spec("evidently") is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="rows per side")
    parser.add_argument("--repeat", type=int, default=3, help="runs of our functions; the best is shown")
    parser.add_argument("--evidently-python", help="python of a virtualenv with evidently>=0.7,<0.8 and pandas<3")
    parser.add_argument("--evidently-timeout", type=float, default=1800.0, help="seconds per Evidently run")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    evidently_python = find_evidently(arguments.evidently_python)
    print(f"{FEATURE_COUNT} features per side, {os.cpu_count()} CPUs; times are wall-clock seconds")
    if evidently_python is None:
        print(f"Evidently: not installed. To include it: {EVIDENTLY_HINT}")
    header = (
        f"{'rows/side':>10} | {'profile build':>13} | {'compare_to_profile':>18} | {'compare_arrays':>14} | "
        f"{'scipy ks+wd+psi':>15} | {'Evidently 0.7':>13} | flagged: ours / scipy p<.05 / Evidently"
    )
    print(header)
    print("-" * len(header))
    for rows in arguments.sizes:
        reference, current = make_data(rows, arguments.seed)
        build, production, exact_seconds = time_ours(reference, current, arguments.repeat)
        started = time.perf_counter()
        scipy_significant = scipy_baseline(reference, current)
        scipy_seconds = time.perf_counter() - started
        evidently = run_evidently(evidently_python, reference, current, arguments.evidently_timeout)
        ours = compare_to_profile(build_reference_profile(reference), current)
        flagged = sum(result.drifted for result in ours.features)
        print(
            f"{rows:>10,} | {build:>11.3f} s | {production:>16.3f} s | {exact_seconds:>12.3f} s | "
            f"{scipy_seconds:>13.2f} s | {evidently.cell:>13} | {flagged} / {scipy_significant} / {evidently.drifted}"
        )
        drifted = ", ".join(result.feature for result in ours.features if result.drifted)
        print(f"{'':>10}   ours flags: {drifted}")


if __name__ == "__main__":
    main()
