"""Savings benchmark: accuracy and calibration of the savings interval on generated machines.

    .venv/bin/python bench/savings.py [--machines 100] [--draws 3] [--rhos 0.3,0.6,0.9]
                                      [--reporting-days 30,90,365] [--baseline-days 365] [--seed 0]

Each machine is drawn from the demo fleet's driver combinations (production only, weather only,
both), with its own noise level (3-8 % of the mean load), start date (so every season of reporting
occurs) and hourly AR(1) noise of strength ρ. Its BASELINE design (drivers, balance points,
time-of-week resolution) is chosen once, as the service chooses it, from one noisy realisation; then
``--draws`` independent noise series are laid on the same noiseless load and each is refitted with
the service's own ridge fit (``fit_ridge``) on the baseline period. So the simulated error contains
everything the service meets: the AR(1) noise, the coefficients' estimation error, and the
baseline's misspecification (the generator's holidays and heating curve are not exactly the linear
model's). From the intervention on the machine uses a fraction ``s`` less energy (a third of the
draws s = 0, the rest s uniform in 2-20 %); the true saving is ``s`` times what it would have used.
Every reporting length is a prefix of the same reporting year. Many machines with few draws each,
rather than the reverse: the draws of one machine share its season and its holidays, so a cell's
coverage varies with the machines far more than with the draws.

Reported, per method (``halfwidth``, the one Kilowatch states, and Guideline 14's printed formula):

* MAE of the savings fraction, in percentage points;
* coverage: how often the interval at 68 / 90 / 95 % contains the true saving (kWh), overall and for
  every (ρ, reporting length) cell (machines x draws series each);
* false significance: share of s = 0 series called significant at 90 % (must be ≤ 10 %).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from app.ml import savings
from app.ml.model_types import get_model_type
from app.ml.model_types.baseline import fit_ridge
from app.ml.synthetic import DEMO_FLEET, generate_readings

LEVELS = (0.68, 0.9, 0.95)
METHODS = ("kilowatch", "g14-printed")
#: Production-only, weather-only and both: every driver combination a baseline meets.
PROFILES = tuple(p for p in DEMO_FLEET if p.name in ("press-line-1", "compressor-3", "office-building", "cold-store"))


@dataclass(frozen=True)
class Outcome:
    rho: float
    reporting_days: int
    true_fraction: float
    true_kwh: float
    estimate: float
    fraction: float
    widths: dict[str, dict[float, float]]


def ar1_draws(rng: np.random.Generator, draws: int, size: int, rho: float) -> np.ndarray:
    """``draws`` stationary AR(1) series of unit variance (the generator's noise process)."""
    innovations = rng.normal(0.0, np.sqrt(1.0 - rho**2), (draws, size))
    innovations[:, 0] = rng.normal(0.0, 1.0, draws)
    return lfilter([1.0], [1.0, -rho], innovations, axis=1)


def machine(
    number: int, rho: float, rng: np.random.Generator, draws: int, baseline_days: int, reporting_days: list[int]
) -> list[Outcome]:
    profile = replace(
        PROFILES[number % len(PROFILES)], noise_fraction=float(rng.uniform(0.03, 0.08)), noise_autocorrelation=rho
    )
    start = pd.Timestamp("2023-01-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 365)))
    at = start + pd.Timedelta(days=baseline_days)
    days = baseline_days + max(reporting_days)
    observed = generate_readings(profile, start, days, seed=number)
    load = generate_readings(replace(profile, noise_fraction=0.0), start, days, seed=number)["energy_kwh"].to_numpy()
    before = (observed.index < at).nonzero()[0]
    model = get_model_type("baseline").fit(observed.iloc[before])
    design, _ = model.spec.matrix(observed)
    n = len(before)
    noise = ar1_draws(rng, draws, len(load), rho) * profile.noise_fraction * load.mean()
    outcomes = []
    for draw in range(draws):
        counterfactual = np.clip(load + noise[draw], 0.0, None)
        saving = 0.0 if draw % 3 == 0 else float(rng.uniform(0.02, 0.2))
        coefficients = fit_ridge(design[:n], counterfactual[:n], model.hyperparameters["ridge_alpha"])
        predicted = design @ coefficients
        fit = savings.baseline_fit(counterfactual[:n], predicted[:n], model.parameter_count)
        for length in reporting_days:
            period = slice(n, n + 24 * length)
            actual = counterfactual[period] * (1.0 - saving)
            expected = predicted[period]
            total = savings.totals(fit, actual, expected, 0.9)
            widths = {
                "kilowatch": {
                    level: float(savings.halfwidth(fit, len(actual), level, total.expected_kwh)) for level in LEVELS
                },
                "g14-printed": {
                    level: savings.textbook_halfwidth(fit, len(actual), total.expected_kwh, level) for level in LEVELS
                },
            }
            true_kwh = saving * float(counterfactual[period].sum())
            outcomes.append(Outcome(rho, length, saving, true_kwh, total.savings_kwh, total.savings_fraction, widths))
    return outcomes


def covered(outcomes: list[Outcome], method: str, level: float) -> float:
    return float(np.mean([abs(o.estimate - o.true_kwh) <= o.widths[method][level] for o in outcomes]))


def report(outcomes: list[Outcome]) -> None:
    errors = np.array([abs(o.fraction - o.true_fraction) for o in outcomes])
    print(
        f"series: {len(outcomes)}   MAE of the savings fraction: {100 * errors.mean():.2f} points "
        f"(95th percentile {100 * np.quantile(errors, 0.95):.2f})"
    )
    zero = [o for o in outcomes if o.true_fraction == 0.0]
    for method in METHODS:
        cells = "  ".join(f"{level:.0%}: {covered(outcomes, method, level):.1%}" for level in LEVELS)
        false = np.mean([abs(o.estimate) > o.widths[method][0.9] for o in zero])
        print(f"{method:12s} coverage {cells}   false significance at 90 % ({len(zero)} with 0 %): {false:.1%}")
    print("\ncoverage per cell (ρ, reporting days): kilowatch 68/90/95 % | g14-printed 68/90/95 % | series")
    for rho in sorted({o.rho for o in outcomes}):
        for length in sorted({o.reporting_days for o in outcomes}):
            group = [o for o in outcomes if o.rho == rho and o.reporting_days == length]
            ours = "/".join(f"{100 * covered(group, 'kilowatch', level):.1f}" for level in LEVELS)
            printed = "/".join(f"{100 * covered(group, 'g14-printed', level):.1f}" for level in LEVELS)
            mae = 100 * np.mean([abs(o.fraction - o.true_fraction) for o in group])
            print(f"  ρ = {rho:.1f}  {length:4d} d   {ours:16s} | {printed:16s} | {len(group)}  (MAE {mae:.2f} pt)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=100, help="machines per ρ")
    parser.add_argument("--draws", type=int, default=3, help="noise series per machine")
    parser.add_argument("--rhos", default="0.3,0.6,0.9")
    parser.add_argument("--baseline-days", type=int, default=365)
    parser.add_argument("--reporting-days", default="30,90,365")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    lengths = [int(value) for value in args.reporting_days.split(",")]
    started = time.perf_counter()
    outcomes = [
        outcome
        for rho in (float(value) for value in args.rhos.split(","))
        for number in range(args.machines)
        for outcome in machine(args.seed * 100_000 + number, rho, rng, args.draws, args.baseline_days, lengths)
    ]
    report(outcomes)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
