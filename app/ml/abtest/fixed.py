"""Fixed-horizon two-sample tests on per-arm absolute errors, valid when evaluated once at the end.

Absolute errors are non-negative and right-skewed (half-normal at best, much heavier when a machine
has load spikes), so a t-test on their means is justified only through the central limit theorem,
and only once n is large relative to the skewness. The rule used to decide that is Sugden, Smith and
Jones' (2000) refinement of Cochran's rule: the normal approximation to a mean is adequate when
``n > 28 + 25 * g1**2``, g1 being the skewness. When either arm fails it, Mann–Whitney U replaces
Welch: it needs no moment assumptions and compares stochastic ordering (is a random error of one arm
usually smaller than one of the other?) instead of means.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from app.ml.abtest.result import METHOD_MANN_WHITNEY, METHOD_WELCH, Comparison, lower_arm

COCHRAN_BASE_SAMPLES = 28
COCHRAN_SKEWNESS_FACTOR = 25.0


def sample_skewness(values: np.ndarray) -> float:
    """Moment skewness g1 = m3 / m2**1.5; zero for constant data (no asymmetry, and no division by 0).

    The test is on m2**1.5, not m2: a spread of a few subnormal numbers has m2 > 0 whose power underflows to 0.
    """
    centred = values - values.mean()
    scale = math.pow(float(np.mean(centred**2)), 1.5)
    if scale == 0.0:
        return 0.0
    return float(np.mean(centred**3)) / scale


def mean_is_approximately_normal(values: np.ndarray) -> bool:
    """Sugden–Smith–Jones rule: is the sampling distribution of this sample's mean close to normal?"""
    if values.size < 3:
        return False
    skewness = sample_skewness(values)
    return values.size > COCHRAN_BASE_SAMPLES + COCHRAN_SKEWNESS_FACTOR * skewness**2


def welch_p_value(
    mean_a: ArrayLike,
    variance_a: ArrayLike,
    samples_a: ArrayLike,
    mean_b: ArrayLike,
    variance_b: ArrayLike,
    samples_b: ArrayLike,
) -> np.ndarray:
    """Two-sided Welch t-test p-value from summary statistics (sample variances with ddof=1).

    Works elementwise on arrays so simulations can test thousands of experiments and looks at once.
    With zero variance in both arms the difference is known exactly: p is 1 for equal means and 0
    otherwise, instead of the 0/0 a textbook formula gives.
    """
    mean_a, variance_a, samples_a, mean_b, variance_b, samples_b = np.broadcast_arrays(
        *(np.asarray(value, dtype=float) for value in (mean_a, variance_a, samples_a, mean_b, variance_b, samples_b))
    )
    share_a = variance_a / samples_a
    share_b = variance_b / samples_b
    standard_error_squared = share_a + share_b
    difference = mean_b - mean_a
    degenerate = standard_error_squared <= 0.0
    # Degenerate elements are replaced below; silence their 0/0 so only real problems would surface.
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = difference / np.sqrt(standard_error_squared)
        degrees_of_freedom = standard_error_squared**2 / (
            share_a**2 / (samples_a - 1.0) + share_b**2 / (samples_b - 1.0)
        )
        p_value = 2.0 * stats.t.sf(np.abs(statistic), np.where(degenerate, 1.0, degrees_of_freedom))
    return np.where(degenerate, np.where(difference == 0.0, 1.0, 0.0), p_value)


def welch_test(abs_a: np.ndarray, abs_b: np.ndarray) -> Comparison:
    """Welch's t-test on mean absolute errors; the arm with the lower MAE is the better one."""
    if min(abs_a.size, abs_b.size) < 2:
        return Comparison(METHOD_WELCH, None, None)
    mean_a, mean_b = float(abs_a.mean()), float(abs_b.mean())
    p_value = welch_p_value(mean_a, abs_a.var(ddof=1), abs_a.size, mean_b, abs_b.var(ddof=1), abs_b.size)
    return Comparison(METHOD_WELCH, float(p_value), lower_arm(mean_a, mean_b))


def mann_whitney_test(abs_a: np.ndarray, abs_b: np.ndarray) -> Comparison:
    """Mann–Whitney U; the better arm is the one whose errors are more often the smaller of a pair.

    scipy's U counts pairs where A's error exceeds B's (ties count one half), so U below half of all
    pairs means A's errors tend to be smaller.
    """
    if min(abs_a.size, abs_b.size) < 2:
        return Comparison(METHOD_MANN_WHITNEY, None, None)
    result = stats.mannwhitneyu(abs_a, abs_b, alternative="two-sided")
    half_of_pairs = abs_a.size * abs_b.size / 2.0
    return Comparison(METHOD_MANN_WHITNEY, float(result.pvalue), lower_arm(float(result.statistic), half_of_pairs))


def fixed_horizon_test(abs_a: np.ndarray, abs_b: np.ndarray) -> Comparison:
    """Welch when both arms' MAEs are close to normal by the skewness rule, else Mann–Whitney U."""
    if mean_is_approximately_normal(abs_a) and mean_is_approximately_normal(abs_b):
        return welch_test(abs_a, abs_b)
    return mann_whitney_test(abs_a, abs_b)
