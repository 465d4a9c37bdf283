"""The sorted-array kernels agree with scipy and with a plain numpy PSI, ties and point masses included."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from app.ml.drift import compare_arrays
from app.ml.drift.profile import FeatureProfile
from app.ml.drift.statistics import (
    PSI_EPSILON,
    ks_critical_value,
    ks_p_value,
    sorted_finite,
    sorted_quantiles,
    support_distances,
)


def _samples(kind: str, seed: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "continuous":
        return rng.normal(20.0, 5.0, n), rng.normal(21.0, 6.0, m)
    if kind == "integers":  # many ties within and across samples
        return rng.integers(0, 5, n).astype(float), rng.integers(0, 7, m).astype(float)
    if kind == "point_mass":  # an idle machine: a third of the readings exactly zero
        reference = np.where(rng.random(n) < 0.3, 0.0, rng.gamma(4.0, 10.0, n))
        return reference, np.where(rng.random(m) < 0.4, 0.0, rng.gamma(4.0, 11.0, m))
    # Large offset, small spread: where careless prefix sums lose precision.
    return rng.normal(1.0e6, 1.0, n), rng.normal(1.0e6 + 0.05, 1.1, m)


def _scipy_ks_statistic(reference: np.ndarray, current: np.ndarray) -> float:
    # Only the statistic is compared; scipy's p-value step warns (RuntimeWarning) on degenerate tiny
    # samples such as one value per side or all-tied data, which says nothing about the statistic.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ks_2samp(reference, current).statistic)


@pytest.mark.parametrize("kind", ["continuous", "integers", "point_mass", "offset"])
@pytest.mark.parametrize(("n", "m"), [(1, 1), (1, 40), (37, 5), (500, 1300), (20_000, 7_000)])
def test_ks_and_wasserstein_equal_scipy(kind: str, n: int, m: int) -> None:
    reference, current = _samples(kind, seed=n * 7919 + m, n=n, m=m)
    distances = support_distances(np.sort(reference), np.sort(current))
    assert distances.ks_statistic == pytest.approx(_scipy_ks_statistic(reference, current), abs=1e-12)
    expected = stats.wasserstein_distance(reference, current)
    assert distances.wasserstein == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-3, 3), min_size=1, max_size=30),
    st.lists(st.integers(-3, 3), min_size=1, max_size=30),
)
def test_exact_on_arbitrary_small_discrete_samples(reference: list[int], current: list[int]) -> None:
    reference_values, current_values = np.array(reference, float) / 2, np.array(current, float) / 2
    distances = support_distances(np.sort(reference_values), np.sort(current_values))
    assert distances.ks_statistic == pytest.approx(_scipy_ks_statistic(reference_values, current_values))
    assert distances.wasserstein == pytest.approx(
        stats.wasserstein_distance(reference_values, current_values), abs=1e-12
    )


def _numpy_psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Textbook PSI with reference-decile bins, written independently of the module."""
    edges = np.unique(np.quantile(reference, np.arange(1, bins) / bins))
    reference_share = np.bincount(np.digitize(reference, edges, right=True), minlength=edges.size + 1)
    current_share = np.bincount(np.digitize(current, edges, right=True), minlength=edges.size + 1)
    reference_share = np.maximum(reference_share / reference.size, PSI_EPSILON)
    current_share = np.maximum(current_share / current.size, PSI_EPSILON)
    return float(np.sum((current_share - reference_share) * np.log(current_share / reference_share)))


@pytest.mark.parametrize("kind", ["continuous", "integers", "point_mass", "offset"])
@pytest.mark.parametrize("seed", range(3))
def test_psi_equals_numpy_reference(kind: str, seed: int) -> None:
    reference, current = _samples(kind, seed=seed, n=3_000 + seed, m=800)
    result = compare_arrays(reference, current)
    assert result.psi == pytest.approx(_numpy_psi(reference, current), rel=1e-12, abs=1e-15)


def test_sketch_stays_within_its_error_bound() -> None:
    rng = np.random.default_rng(11)
    reference, current = np.sort(rng.gamma(3.0, 2.0, 200_000)), np.sort(rng.gamma(3.2, 2.0, 50_000))
    exact = support_distances(reference, current)
    sketch = FeatureProfile.from_sorted(reference, sketch_size=1000).sketch
    approximate = support_distances(sketch, current)
    assert abs(approximate.ks_statistic - exact.ks_statistic) <= 0.5 / 1000 + 1e-12
    assert approximate.wasserstein == pytest.approx(exact.wasserstein, rel=0.02)


def test_ks_p_value_matches_scipy_and_inverts_to_the_critical_value() -> None:
    rng = np.random.default_rng(5)
    for n, m, shift in [(40, 60, 0.3), (500, 2000, 0.1), (3000, 5000, 0.05), (20_000, 20_000, 0.02)]:
        reference, current = rng.normal(0, 1, n), rng.normal(shift, 1, m)
        scipy_result = stats.ks_2samp(reference, current)
        p_value = ks_p_value(float(scipy_result.statistic), n * m / (n + m))
        assert p_value == pytest.approx(scipy_result.pvalue, rel=0.15, abs=0.005)
    critical = ks_critical_value(0.01, 1234.5)
    assert ks_p_value(critical, 1234.5) == pytest.approx(0.01, rel=1e-6)


def test_sorted_quantiles_match_numpy_and_sorted_finite_drops_missing() -> None:
    values = sorted_finite([3.0, np.nan, -np.inf, 1.0, 2.0, np.inf, 10.0])
    np.testing.assert_array_equal(values, [1.0, 2.0, 3.0, 10.0])
    levels = np.linspace(0, 1, 17)
    np.testing.assert_allclose(sorted_quantiles(values, levels), np.quantile(values, levels), rtol=1e-15)
