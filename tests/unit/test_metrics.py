"""Metrics against values computed by hand, and the guarantees callers rely on (no NaN/inf)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from app.ml.metrics import (
    contiguous_runs,
    evaluate,
    event_metrics,
    fractional_savings_uncertainty,
    lag1_autocorrelation,
    regression_metrics,
    seasonal_naive_scale,
)

ACTUAL = np.array([10.0, 12.0, 8.0, 10.0])
PREDICTED = np.array([9.0, 12.0, 10.0, 11.0])  # residuals e = y - ŷ: 1, 0, -2, -1


def test_regression_metrics_match_hand_computed_values() -> None:
    metrics = regression_metrics(ACTUAL, PREDICTED, parameter_count=2)
    # Σe² = 6, Σe = -2, ȳ = 10, SST = 0 + 4 + 4 + 0 = 8, n - p = 2
    assert metrics.sample_count == 4
    assert metrics.rmse == pytest.approx(math.sqrt(6 / 4))
    assert metrics.mae == pytest.approx(1.0)
    assert metrics.r_squared == pytest.approx(1 - 6 / 8)
    assert metrics.adj_r_squared == pytest.approx(1 - (6 / 8) * 3 / 2)
    assert metrics.cv_rmse == pytest.approx(math.sqrt(6 / 2) / 10)
    assert metrics.nmbe == pytest.approx(-2 / (2 * 10))
    assert metrics.wape == pytest.approx(4 / 40)
    assert metrics.mape == pytest.approx((1 / 10 + 0 + 2 / 8 + 1 / 10) / 4)


def test_mape_ignores_idle_readings_and_mase_uses_seasonal_naive_scale() -> None:
    actual = np.array([0.0, 0.01, 10.0, 20.0])
    predicted = np.array([1.0, 1.0, 11.0, 18.0])
    history = np.array([1.0, 5.0, 3.0, 9.0])  # |y_t - y_{t-2}| = 2, 4 → scale 3
    metrics = regression_metrics(actual, predicted, seasonal_history=history, season=2)
    assert metrics.mape == pytest.approx((1 / 10 + 2 / 20) / 2)
    assert metrics.mase == pytest.approx(np.mean([1.0, 0.99, 1.0, 2.0]) / 3)
    assert seasonal_naive_scale(history, 2) == pytest.approx(3.0)


def test_undefined_metrics_are_none_not_nan_or_inf() -> None:
    zeros = regression_metrics(np.zeros(5), np.ones(5), parameter_count=1)
    assert zeros.cv_rmse is None and zeros.nmbe is None and zeros.wape is None and zeros.mape is None
    assert zeros.r_squared is None and zeros.rmse == pytest.approx(1.0)
    too_many_parameters = regression_metrics(ACTUAL, PREDICTED, parameter_count=4)
    assert too_many_parameters.cv_rmse is None and too_many_parameters.adj_r_squared is None
    assert regression_metrics(np.array([]), np.array([])).sample_count == 0
    flat_history = regression_metrics(ACTUAL, PREDICTED, seasonal_history=np.ones(10), season=2)
    assert flat_history.mase is None


def test_rows_that_cannot_be_scored_are_skipped() -> None:
    metrics = regression_metrics(np.array([10.0, np.nan, 12.0]), np.array([9.0, 5.0, np.nan]))
    assert metrics.sample_count == 1
    assert metrics.mae == pytest.approx(1.0)


@given(
    arrays(np.float64, 30, elements=st.floats(-1e6, 1e6)),
    arrays(np.float64, 30, elements=st.floats(-1e6, 1e6)),
    st.integers(0, 40),
)
def test_metrics_are_always_finite_or_none(actual: np.ndarray, predicted: np.ndarray, parameters: int) -> None:
    metrics = evaluate(
        actual, predicted, parameters, flags=actual > 0, labels=predicted > 0, seasonal_history=actual, season=3
    )
    for value in metrics.as_dict().values():
        assert value is None or math.isfinite(value)


def test_lag1_autocorrelation_and_fsu_follow_guideline_14() -> None:
    alternating = np.array([1.0, -1.0] * 50)
    assert lag1_autocorrelation(alternating) == pytest.approx(-0.99, abs=0.01)
    rng = np.random.default_rng(0)
    independent = rng.normal(size=2000)
    # ρ ≈ 0: FSU = 1.26·t·CV·sqrt((1 + 2/n)/m)/F with t at 90 %, n - p = 1998
    expected = 1.26 * 1.6456 * 0.2 * math.sqrt((1 + 2 / 2000) / 500) / 0.1
    assert fractional_savings_uncertainty(0.2, independent, 2, 500) == pytest.approx(expected, rel=0.03)
    smooth = np.convolve(independent, np.ones(10), mode="same")  # strongly autocorrelated residuals
    inflated = fractional_savings_uncertainty(0.2, smooth, 2, 500)
    assert inflated is not None and inflated > 2 * expected
    assert fractional_savings_uncertainty(None, independent, 2, 500) is None


def test_events_are_contiguous_runs() -> None:
    runs = contiguous_runs(np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool))
    assert runs.tolist() == [[0, 2], [4, 5], [6, 9]]
    assert contiguous_runs(np.zeros(4, dtype=bool)).shape == (0, 2)


def test_event_metrics_count_events_not_rows() -> None:
    labels = np.zeros(100, dtype=bool)
    labels[10:20] = labels[50:52] = labels[80:85] = True
    flags = np.zeros(100, dtype=bool)
    flags[15] = True  # one row of a ten-row event finds it, but does not "find" all ten rows
    flags[30:33] = True  # false alarm
    result = event_metrics(flags, labels)
    assert (result.true_events, result.detected_events) == (3, 2)
    assert result.recall == pytest.approx(1 / 3)
    assert result.precision == pytest.approx(1 / 2)
    assert result.f1 == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))


def test_event_metrics_edge_cases() -> None:
    nothing = np.zeros(10, dtype=bool)
    something = nothing.copy()
    something[3] = True
    assert event_metrics(nothing, nothing).f1 is None
    missed = event_metrics(nothing, something)
    assert missed.precision is None and missed.recall == 0.0 and missed.f1 == 0.0
    false_alarm = event_metrics(something, nothing)
    assert false_alarm.precision == 0.0 and false_alarm.recall is None and false_alarm.f1 == 0.0


def test_evaluate_adds_event_metrics_only_with_flags_and_labels() -> None:
    labels = np.array([False, True, True, False])
    assert evaluate(ACTUAL, PREDICTED).f1 is None
    assert evaluate(ACTUAL, PREDICTED, flags=labels, labels=labels).f1 == pytest.approx(1.0)
