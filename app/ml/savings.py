"""Avoided energy use and its uncertainty (IPMVP Option C, ASHRAE Guideline 14 Annex B).

Savings over a reporting period of ``m`` readings are ``S = Σ(ŷ - y)``: the frozen baseline's
predictions under the period's actual drivers minus what the meter measured.

Guideline 14 (2014, Annex B) states the uncertainty of S as a fractional savings uncertainty

    ΔS / S = 1.26 · t · CV · sqrt((n / n') · (1 + 2/n') · (1 / m)) / F,   n' = n (1 - ρ) / (1 + ρ)

(CV = the baseline's CV(RMSE), n its residual count, ρ their lag-1 autocorrelation, F = S / E_expected).
``textbook_halfwidth`` computes exactly that. Simulation (``bench/savings.py``) shows its coverage
on hourly data drifting with the reporting length: the ``2/n'`` term treats the baseline's
estimation error as independent from one reporting reading to the next, while it is one error
repeated in all ``m`` predictions, so its share of the variance grows with ``m²``, not ``m``; the
1.26 factor (fitted by Reddy & Claridge on monthly data) makes up for it only at some ``m / n``.

``halfwidth`` keeps the Annex B ingredients (RMSE with n - p degrees of freedom, ρ of the baseline's
residuals at the reporting resolution, the t-statistic) and sums the two variance terms the way
they actually add up, with the exact variance of a sum of AR(1) errors in place of n/n':

    Var(S) = σ² · [ K(m) + m² · K(n) / n² · L ],   K(k) = k (1+ρ)/(1-ρ) - 2ρ (1 - ρ^k) / (1-ρ)²
    L = 1 + (mean ŷ_reporting - mean ŷ_baseline)² / Var(ŷ_baseline)

K(m) is the reporting period's own noise (m readings of autocorrelated error); m²·K(n)/n² is the
error of the baseline's level estimated from n autocorrelated residuals, carried into every one
of the m predictions. L is the leverage of the reporting period's mean conditions: a regression is
least certain far from the centre of the data it was fitted on (a winter quarter measured with a
year-round baseline), the ``1 + (x̄ - x̄₀)²/S_xx`` of a prediction interval, with the prediction ŷ as
the one-dimensional summary of the drivers (as OpenEEmeter's OLS error does with mean usage). For
large k, K(k) → k·n/n', so with L = 1, Var(S) → σ²·(n/n')·m·(1 + m/n): Guideline 14's expression
with its ``2/n'`` replaced by ``m/n``. The half-width is ``t(df = n' - p) · sqrt(Var(S))``. The
cumulative curve applies the same expression to each prefix of the reporting period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from app.ml.metrics import lag1_autocorrelation

#: ρ is clamped to this range: ρ ≥ 0 so the correction never claims more certainty than independent
#: errors, and < 1 so a near-random-walk residual series gives a finite (huge) interval, not a crash.
RHO_RANGE = (0.0, 0.995)
#: A variance of predictions below this share of their squared mean is floating-point rounding of a
#: constant: dividing by it would turn the leverage into noise (1e-28 / 1e-28).
RELATIVE_ROUNDING = 1e-12
#: Guideline 14's empirical factor for the textbook formula (Reddy & Claridge 2000, monthly data).
G14_FACTOR = 1.26


class SavingsError(ValueError):
    """The inputs cannot support a savings estimate (too few baseline residuals, no reporting data)."""


@dataclass(frozen=True)
class BaselineFit:
    """How well the frozen baseline fits its own (pre-intervention) period: what the interval rests on."""

    residual_count: int
    parameter_count: int
    rmse: float
    mean_kwh: float
    rho: float
    #: Mean and variance of the baseline's predictions on its own period: the centre of its conditions.
    expected_mean: float = 0.0
    expected_variance: float = 0.0

    @property
    def effective_count(self) -> float:
        """n' = n (1 - ρ) / (1 + ρ): independent readings the autocorrelated residuals are worth."""
        return self.residual_count * (1.0 - self.rho) / (1.0 + self.rho)

    @property
    def cv_rmse(self) -> float:
        return self.rmse / self.mean_kwh if self.mean_kwh > 0 else float("inf")

    def t_value(self, confidence: float) -> float:
        """Two-sided t quantile with the effective degrees of freedom n' - p (at least one)."""
        dof = max(self.effective_count - self.parameter_count, 1.0)
        return float(stats.t.ppf(0.5 + confidence / 2.0, dof))


def baseline_fit(actual: np.ndarray, predicted: np.ndarray, parameter_count: int) -> BaselineFit:
    """Residual statistics of the baseline on its training period, in time order at reporting resolution."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    usable = np.isfinite(actual) & np.isfinite(predicted)
    residuals = actual[usable] - predicted[usable]
    n = len(residuals)
    if n - parameter_count < 2:
        raise SavingsError(
            f"the baseline has {n} usable readings in its own period for {parameter_count} parameters; "
            "at least parameters + 2 are needed to state an uncertainty"
        )
    rho = lag1_autocorrelation(residuals)
    spread = float(predicted[usable].var())
    if spread <= RELATIVE_ROUNDING * float(predicted[usable].mean()) ** 2:
        spread = 0.0  # constant predictions: rounding, not conditions to measure a leverage against
    return BaselineFit(
        residual_count=n,
        parameter_count=parameter_count,
        rmse=float(np.sqrt(residuals @ residuals / (n - parameter_count))),
        mean_kwh=float(actual[usable].mean()),
        rho=float(np.clip(rho if rho is not None else 0.0, *RHO_RANGE)),
        expected_mean=float(predicted[usable].mean()),
        expected_variance=spread,
    )


def ar1_sum_factor(count: np.ndarray | float, rho: float) -> np.ndarray:
    """K(k): Var(sum of k AR(1) errors) / σ², exact for every k (k(1+ρ)/(1-ρ) asymptotically)."""
    k = np.asarray(count, dtype=float)
    if rho == 0.0:
        return k
    return k * (1.0 + rho) / (1.0 - rho) - 2.0 * rho * (1.0 - rho**k) / (1.0 - rho) ** 2


def halfwidth(
    fit: BaselineFit, counts: np.ndarray | float, confidence: float, expected_sums: np.ndarray | float | None = None
) -> np.ndarray:
    """Half-width of the interval of savings summed over ``counts`` reporting readings (vectorised).

    ``expected_sums`` (Σŷ over the same readings) places the reporting conditions relative to the
    baseline's; without it they are taken to be centred (L = 1).
    """
    m = np.asarray(counts, dtype=float)
    n = fit.residual_count
    leverage = np.ones_like(m)
    if expected_sums is not None and fit.expected_variance > 0:
        leverage = 1.0 + (np.asarray(expected_sums, dtype=float) / m - fit.expected_mean) ** 2 / fit.expected_variance
    variance = ar1_sum_factor(m, fit.rho) + m**2 * ar1_sum_factor(n, fit.rho) / n**2 * leverage
    return fit.t_value(confidence) * fit.rmse * np.sqrt(variance)


def textbook_halfwidth(fit: BaselineFit, count: int, expected_kwh: float, confidence: float) -> float:
    """Guideline 14 Annex B as printed (ΔS = FSU · S): kept to show, measured, why ``halfwidth`` differs."""
    n, effective = fit.residual_count, fit.effective_count
    spread = np.sqrt((n / effective) * (1.0 + 2.0 / effective) / count)
    return float(G14_FACTOR * fit.t_value(confidence) * fit.cv_rmse * spread * expected_kwh)


@dataclass(frozen=True)
class SavingsTotals:
    sample_count: int
    observed_kwh: float
    expected_kwh: float
    savings_kwh: float
    savings_fraction: float
    uncertainty_kwh: float
    significant: bool


def totals(fit: BaselineFit, observed: np.ndarray, expected: np.ndarray, confidence: float) -> SavingsTotals:
    """Savings over the whole reporting period with its half-width at ``confidence``."""
    _check_confidence(confidence)
    observed, expected = np.asarray(observed, dtype=float), np.asarray(expected, dtype=float)
    if len(observed) == 0:
        raise SavingsError("the reporting period holds no usable readings")
    observed_kwh, expected_kwh = float(observed.sum()), float(expected.sum())
    savings = expected_kwh - observed_kwh
    uncertainty = float(halfwidth(fit, len(observed), confidence, expected_kwh))
    return SavingsTotals(
        sample_count=len(observed),
        observed_kwh=observed_kwh,
        expected_kwh=expected_kwh,
        savings_kwh=savings,
        savings_fraction=savings / expected_kwh if expected_kwh > 0 else 0.0,
        uncertainty_kwh=uncertainty,
        significant=abs(savings) > uncertainty,
    )


@dataclass(frozen=True)
class CumulativeCurve:
    """Bucket ends (row positions), per-bucket sums and the running savings with bounds."""

    ends: np.ndarray
    observed_kwh: np.ndarray
    expected_kwh: np.ndarray
    cumulative_kwh: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def cumulative(
    fit: BaselineFit, observed: np.ndarray, expected: np.ndarray, confidence: float, max_points: int
) -> CumulativeCurve:
    """CUSUM of expected - observed in at most ``max_points`` equal-count buckets, bounds per prefix."""
    _check_confidence(confidence)
    if max_points < 1:
        raise SavingsError(f"maxPoints must be at least 1; got {max_points}")
    observed, expected = np.asarray(observed, dtype=float), np.asarray(expected, dtype=float)
    size = len(observed)
    if size == 0:
        empty = np.empty(0)
        return CumulativeCurve(np.empty(0, dtype=int), empty, empty, empty, empty, empty)
    buckets = min(max_points, size)
    starts = np.unique(np.linspace(0, size, buckets, endpoint=False).astype(int))
    ends = np.append(starts[1:], size)
    observed_sums = np.add.reduceat(observed, starts)
    expected_sums = np.add.reduceat(expected, starts)
    running = np.cumsum(expected_sums - observed_sums)
    width = halfwidth(fit, ends, confidence, np.cumsum(expected_sums))
    return CumulativeCurve(ends - 1, observed_sums, expected_sums, running, running - width, running + width)


def _check_confidence(confidence: float) -> None:
    if not 0.5 <= confidence < 1.0:
        raise SavingsError(f"confidence must be in [0.5, 1); got {confidence}")
