"""Concept drift: error-metric degradation over consecutive windows and the residual CUSUM."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import signal

from app.ml.drift import (
    CusumSettings,
    ErrorMetrics,
    MetricThresholds,
    ResidualReference,
    detect_level_shift,
    detect_metric_degradation,
    residual_reference,
)

VALIDATION = ErrorMetrics(cv_rmse=0.12, nmbe=0.01, r_squared=0.9)
GOOD = ErrorMetrics(cv_rmse=0.13, nmbe=0.02, r_squared=0.88)
BAD = ErrorMetrics(cv_rmse=0.35, nmbe=0.04, r_squared=0.6)
NO_DATA = ErrorMetrics()


@pytest.mark.parametrize(
    ("windows", "detected", "bad_windows"),
    [
        ([GOOD, BAD, BAD], False, 2),
        ([GOOD, BAD, BAD, BAD], True, 3),
        ([BAD, BAD, BAD, GOOD], False, 0),
        ([BAD, BAD, NO_DATA, BAD], True, 3),
        ([BAD, BAD], False, 2),
        ([], False, 0),
    ],
)
def test_degradation_needs_k_consecutive_bad_windows(
    windows: list[ErrorMetrics], detected: bool, bad_windows: int
) -> None:
    result = detect_metric_degradation(windows, VALIDATION, MetricThresholds(consecutive_windows=3))
    assert result.detected is detected
    assert result.bad_windows == bad_windows
    assert result.required_windows == 3


def test_degradation_reports_the_worst_metric_against_validation() -> None:
    result = detect_metric_degradation([BAD] * 3, VALIDATION)
    assert result.detected
    assert result.metric == "cv_rmse"
    assert result.reference == 0.12 and result.current == 0.35
    assert result.limit == pytest.approx(0.18)  # 1.5 x validation is stricter than G14's 30 %
    assert result.relative_change == pytest.approx((0.35 - 0.12) / 0.12)
    json.dumps(result.to_dict(), allow_nan=False)


def test_a_model_much_worse_than_at_validation_degrades_while_still_passing_g14() -> None:
    worse = ErrorMetrics(cv_rmse=0.22, nmbe=0.03)
    assert detect_metric_degradation([worse] * 3, VALIDATION).detected
    absolute_only = MetricThresholds(cv_rmse_relative_increase=None)
    assert not detect_metric_degradation([worse] * 3, VALIDATION, absolute_only).detected


def test_bias_beyond_the_nmbe_limit_is_degradation_in_either_direction() -> None:
    for nmbe in (0.12, -0.12):
        result = detect_metric_degradation([ErrorMetrics(cv_rmse=0.13, nmbe=nmbe)] * 3, VALIDATION)
        assert result.detected and result.metric == "nmbe"
        assert result.current == pytest.approx(0.12)
        assert result.relative_change == pytest.approx(11.0)


def test_r_squared_limit_applies_only_when_the_policy_sets_one() -> None:
    poor_fit = ErrorMetrics(cv_rmse=0.13, nmbe=0.0, r_squared=0.4)
    assert not detect_metric_degradation([poor_fit] * 3, VALIDATION).detected
    strict = MetricThresholds(r_squared_min=0.6)
    result = detect_metric_degradation([poor_fit] * 3, VALIDATION, strict)
    assert result.detected and result.metric == "r_squared"
    with pytest.raises(ValueError):
        MetricThresholds(consecutive_windows=0)


def _hourly_series(rng: np.random.Generator, hours: int, noise_kwh: float) -> tuple[np.ndarray, np.ndarray]:
    """Expected load with a daily cycle around 100 kWh, and noisy actual readings."""
    expected = 100.0 + 20.0 * np.sin(2 * np.pi * np.arange(hours) / 24)
    return expected, expected + rng.normal(0.0, noise_kwh, hours)


@pytest.mark.parametrize("seed", range(20))
def test_cusum_dates_a_ten_percent_efficiency_gain(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = residual_reference(rng.normal(0.0, 8.0, 1_000))
    expected, actual = _hourly_series(rng, 1_500, noise_kwh=8.0)
    change = 500
    actual[change:] -= 0.10 * expected[change:]

    result = detect_level_shift(actual - expected, reference)
    assert result.detected
    assert change <= result.alarm_index <= change + 60
    assert abs(result.change_index - change) <= 30
    assert result.shift == pytest.approx(-10.0, rel=0.15)
    assert result.shift_sd == pytest.approx(result.shift / reference.std)


def test_cusum_detects_an_increase_too() -> None:
    rng = np.random.default_rng(99)
    residuals = rng.normal(0.0, 1.0, 800)
    residuals[300:] += 1.5
    result = detect_level_shift(residuals, ResidualReference(mean=0.0, std=1.0))
    assert result.detected and result.shift > 0 and result.alarm_index >= 300


def test_cusum_false_alarm_rate_without_change_is_low() -> None:
    alarms = 0
    for seed in range(200):
        rng = np.random.default_rng(10_000 + seed)
        reference = residual_reference(rng.normal(0.0, 8.0, 1_000))
        expected, actual = _hourly_series(rng, 2_000, noise_kwh=8.0)
        alarms += detect_level_shift(actual - expected, reference).detected
    assert alarms / 200 <= 0.06


def _ar1(rng: np.random.Generator, size: int, rho: float) -> np.ndarray:
    """Unit-variance AR(1) noise, like hourly residuals that stay high or low for hours at a time."""
    innovations = rng.normal(0.0, np.sqrt(1 - rho * rho), size)
    start = rng.normal()  # drawn from the stationary distribution, so there is no warm-up transient
    values, _ = signal.lfilter([1.0], [1.0, -rho], innovations, zi=[rho * start])
    return values


def test_prewhitening_keeps_false_alarms_rare_on_autocorrelated_residuals() -> None:
    whitened = ignored = 0
    for seed in range(200):
        rng = np.random.default_rng(20_000 + seed)
        reference = residual_reference(_ar1(rng, 2_000, 0.6))
        assert reference.lag1_autocorrelation == pytest.approx(0.6, abs=0.06)
        monitoring = _ar1(rng, 2_000, 0.6)
        whitened += detect_level_shift(monitoring, reference).detected
        ignored += detect_level_shift(monitoring, ResidualReference(reference.mean, reference.std)).detected
    assert whitened / 200 <= 0.07
    assert ignored / 200 >= 0.5


def _naive_cusum(values: np.ndarray, allowance: float, threshold: float) -> tuple[int | None, float]:
    upper = lower = largest = 0.0
    alarm = None
    for index, value in enumerate(values):
        upper = max(0.0, upper + value - allowance)
        lower = max(0.0, lower - value - allowance)
        largest = max(largest, upper, lower)
        if alarm is None and max(upper, lower) > threshold:
            alarm = index
    return alarm, largest


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_cusum_equals_the_recursion(seed: int) -> None:
    rng = np.random.default_rng(seed)
    residuals = rng.normal(0.0, 1.0, 3_000) + np.where(np.arange(3_000) > 1_500 + 100 * seed, 0.6, 0.0)
    settings = CusumSettings(allowance=0.4, decision_threshold=7.0)
    result = detect_level_shift(residuals, ResidualReference(mean=0.0, std=1.0), settings)
    alarm, largest = _naive_cusum(residuals, 0.4, 7.0)
    assert result.alarm_index == alarm
    assert result.max_statistic == pytest.approx(largest, rel=1e-9)


def test_level_shift_edge_cases() -> None:
    reference = ResidualReference(mean=0.0, std=2.0)
    assert not detect_level_shift([], reference).detected
    quiet = detect_level_shift([np.nan, 0.5, -0.5, np.nan], reference)
    assert not quiet.detected and quiet.alarm_index is None
    json.dumps(quiet.to_dict(), allow_nan=False)
    with pytest.raises(ValueError):
        ResidualReference(mean=0.0, std=0.0)
    with pytest.raises(ValueError):
        residual_reference([1.0, np.nan])
    assert residual_reference(np.full(10, 3.0).tolist() + [3.1]).lag1_autocorrelation <= 0.95
