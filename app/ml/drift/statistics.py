"""Distribution distances computed from sorted arrays.

Calling ``scipy.stats.ks_2samp``, ``scipy.stats.wasserstein_distance`` and a PSI histogram separately
sorts, concatenates and searches the same data three times. Here every statistic starts from arrays
that are sorted once, so the reference side can be sorted (or summarised) when a model is trained and
each check only sorts the current window:

* the empirical CDF of the current sample at any point is one ``searchsorted`` into it;
* the Kolmogorov-Smirnov distance and the Wasserstein-1 integral of ``|F - G|`` both follow from the
  current sample's CDF at the reference support points plus its prefix sums, with no merged array;
* PSI bin counts are a ``searchsorted`` of the few bin edges.

The reference side is a sorted *support* whose points carry equal weight: the full sorted training
sample gives the exact two-sample statistics, a quantile sketch of it gives a bounded-size stand-in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import kstwobign

#: Floor for a bin proportion in PSI, so that an empty bin contributes a large but finite term.
PSI_EPSILON = 1e-4


def sorted_finite(values: ArrayLike) -> np.ndarray:
    """Sorted float64 copy of ``values`` without NaN or infinities (missing readings are not data)."""
    array = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(array)
    if not finite.all():
        array = array[finite]
    return np.sort(array)


def sorted_quantiles(sorted_values: np.ndarray, levels: ArrayLike) -> np.ndarray:
    """Quantiles of an already sorted array by linear interpolation (``numpy.quantile``'s default).

    Indexing the sorted array directly avoids the partition ``numpy.quantile`` would redo.
    """
    positions = np.asarray(levels, dtype=np.float64) * (sorted_values.size - 1)
    lower = np.floor(positions).astype(np.intp)
    upper = np.minimum(lower + 1, sorted_values.size - 1)
    fraction = positions - lower
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * fraction


def bin_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in the bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)`` of strictly increasing ``edges``.

    Right-closed bins keep a point mass (idle machines reporting exactly 0 units) together with the
    quantile edge that equals it, so reference-quantile bins stay meaningful for discrete features.
    """
    cumulative = np.searchsorted(sorted_values, edges, side="right")
    return np.diff(cumulative, prepend=0, append=sorted_values.size)


def population_stability_index(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """PSI = sum((c - r) * ln(c / r)) over bins, with proportions floored at ``PSI_EPSILON``."""
    reference = np.maximum(reference_counts / reference_counts.sum(), PSI_EPSILON)
    current = np.maximum(current_counts / current_counts.sum(), PSI_EPSILON)
    return float(np.sum((current - reference) * np.log(current / reference)))


def ks_p_value(statistic: float, effective_size: float) -> float:
    """Two-sided p-value of the two-sample KS distance by Stephens' scaled Kolmogorov limit.

    ``effective_size`` is ``n * m / (n + m)`` with the *true* sample sizes (not the sketch size).
    ``scipy.stats.kstwo`` (what ``ks_2samp`` uses) can take most of a second per call at large sizes;
    ``Q_KS((sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) * D)`` agrees with scipy's exact and asymptotic
    p-values to within their own difference and costs microseconds.
    """
    return float(kstwobign.sf(_stephens_scale(effective_size) * statistic))


def ks_critical_value(alpha: float, effective_size: float) -> float:
    """The KS distance whose p-value is ``alpha``: the change is significant above it."""
    return float(kstwobign.isf(alpha) / _stephens_scale(effective_size))


def _stephens_scale(effective_size: float) -> float:
    root = math.sqrt(effective_size)
    return root + 0.12 + 0.11 / root


@dataclass(frozen=True)
class Distances:
    """Sup-distance and area between the empirical CDFs of the reference support and the current sample."""

    ks_statistic: float
    wasserstein: float


def support_distances(support: np.ndarray, current: np.ndarray) -> Distances:
    """KS distance and Wasserstein-1 distance between two sorted samples, the first with equal weights.

    Equals ``ks_2samp(support, current).statistic`` and ``wasserstein_distance(support, current)``.
    The reference CDF ``S`` is a step function, constant on ``[u_k, u_k+1)`` between its distinct
    points, while only the current CDF ``F`` moves there, so

    * the KS distance on that interval is attained at one of its ends (``F`` is monotone), and
    * ``integral |S - F|`` over it splits at the point ``t_k`` where ``F`` crosses the level ``q_k`` of
      ``S``; with ``G(x) = integral F = (count(x) * x - prefix_sum(count(x))) / n`` it equals
      ``q_k (2 t_k - u_k - u_k+1) + G(u_k) + G(u_k+1) - 2 G(t_k)``.

    Work is one searchsorted of the support into the current sample plus one prefix sum of it: cheap
    for a sketch of a thousand points, and without a merged ``n + m`` array for the exact case.
    """
    if support.size == 0 or current.size == 0:
        raise ValueError("both samples need at least one finite value")
    # Centring keeps ``count * x`` and the prefix sums small, so their differences lose no precision.
    center = support[support.size // 2]
    support = support - center
    current = current - center
    m, n = support.size, current.size

    # The distinct support points u_k and the number of support points <= each (the CDF numerators).
    distinct = support[1:] != support[:-1]
    if distinct.all():
        points, support_counts = support, np.arange(1, m + 1)
    else:
        last = np.flatnonzero(np.append(distinct, True))
        points, support_counts = support[last], last + 1
    below, at_or_below = _current_counts(current, points)

    # KS: F - S at the left end of each interval, just before its right end, and below the first point.
    gaps = np.abs(support_counts * n - at_or_below * m)
    before_next = np.abs(support_counts[:-1] * n - below[1:] * m)
    largest_gap = max(int(below[0]) * m, int(gaps.max()), int(before_next.max(initial=0)))

    prefix = np.empty(n + 1)
    prefix[0] = 0.0
    np.cumsum(current, out=prefix[1:])
    level_counts = support_counts[:-1]
    # F(x) >= level k/m exactly when x >= current[ceil(k*n/m) - 1] (integer arithmetic, no rounding).
    crossing_index = (level_counts * n + m - 1) // m - 1
    crossing = np.clip(current[crossing_index], points[:-1], points[1:])
    # Any count between "current < t" and "current <= t" gives the same G(t).
    crossing_count = np.clip(crossing_index, below[:-1], below[1:])
    # Per-interval integrals are small and non-negative, so summing them loses no precision (the
    # telescoped sum of the large G values would cancel catastrophically).
    cdf_integrals = below * points - prefix[below]
    crossing_integrals = crossing_count * crossing - prefix[crossing_count]
    middle = (level_counts * (n / m)) * (2.0 * crossing - points[:-1] - points[1:])
    middle += cdf_integrals[:-1] + cdf_integrals[1:] - 2.0 * crossing_integrals
    # Tails: the area of F left of the first support point, and of 1 - F right of the last one.
    tails = cdf_integrals[0] + (prefix[n] - prefix[below[-1]]) - (n - below[-1]) * points[-1]
    total = np.sum(middle) + tails
    return Distances(ks_statistic=largest_gap / (n * m), wasserstein=max(float(total) / n, 0.0))


def _current_counts(current: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of current values ``< point`` and ``<= point``; the second search runs only on ties."""
    below = np.searchsorted(current, points, side="left")
    at_or_below = below.copy()
    candidate = np.minimum(below, current.size - 1)
    tied = np.flatnonzero(current[candidate] == points)
    if tied.size:
        at_or_below[tied] = np.searchsorted(current, points[tied], side="right")
    return below, at_or_below
