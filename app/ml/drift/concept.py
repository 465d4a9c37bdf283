"""Concept drift: has the relation between drivers and energy changed since validation?

Two complementary signals (ISO 50001 §6.5: the baseline no longer reflects performance):

* ``detect_metric_degradation`` — monitoring-window error metrics against the acceptance
  thresholds and the version's own validation metrics, declared only after ``consecutive_windows``
  bad windows in a row, so one odd week (a holiday, a sensor gap) does not trigger a retrain;
* ``detect_level_shift`` — a two-sided CUSUM on residuals standardised by the validation residuals,
  which finds a sustained level change (equipment replaced, a 10 % efficiency gain) long before it
  moves a window's CV(RMSE) or NMBE past a threshold, and dates it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class ErrorMetrics:
    """Error metrics of one window (fractions, not percent); ``None`` where not computable."""

    cv_rmse: float | None = None
    nmbe: float | None = None
    r_squared: float | None = None


@dataclass(frozen=True)
class MetricThresholds:
    """Per-policy limits; the defaults are ASHRAE Guideline 14 hourly acceptance.

    ``cv_rmse_relative_increase`` also flags a model that still passes G14 but has become much worse
    than it was at validation (0.5: CV(RMSE) above 1.5 x its validation value); ``None`` disables it.
    ``r_squared_min`` is off by default because a short window's R² depends on how much the drivers
    happened to vary in it, not only on the model.
    """

    cv_rmse_max: float = 0.30
    nmbe_abs_max: float = 0.10
    r_squared_min: float | None = None
    cv_rmse_relative_increase: float | None = 0.5
    consecutive_windows: int = 3

    def __post_init__(self) -> None:
        if self.consecutive_windows < 1:
            raise ValueError("consecutive_windows must be at least 1")


@dataclass(frozen=True)
class MetricDegradation:
    """Outcome of ``detect_metric_degradation``.

    ``metric`` is the worst metric of the latest window (largest value relative to its limit);
    ``reference`` its validation value, ``current`` its latest value (absolute for NMBE),
    ``relative_change`` = (current - reference) / |reference| (``None`` without a usable reference).
    """

    detected: bool
    metric: str | None
    reference: float | None
    current: float | None
    limit: float | None
    relative_change: float | None
    #: Number of bad windows at the end of the sequence, and how many were required.
    bad_windows: int
    required_windows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def detect_metric_degradation(
    windows: Sequence[ErrorMetrics],
    validation: ErrorMetrics,
    thresholds: MetricThresholds | None = None,
) -> MetricDegradation:
    """Degradation when the last ``consecutive_windows`` evaluable windows all breach a limit.

    ``windows`` is in time order. A window with no metric at all (too few matched readings) is
    skipped rather than counted as good, so a data gap neither declares nor clears degradation.
    """
    thresholds = thresholds or MetricThresholds()
    readings = [_window_readings(window, validation, thresholds) for window in windows]
    readings = [reading for reading in readings if reading]
    bad_windows = 0
    for reading in reversed(readings):
        if not any(excess.breached for excess in reading):
            break
        bad_windows += 1
    if not readings:
        return MetricDegradation(False, None, None, None, None, None, 0, thresholds.consecutive_windows)
    worst = max(readings[-1], key=lambda excess: excess.ratio)
    return MetricDegradation(
        detected=bad_windows >= thresholds.consecutive_windows,
        metric=worst.metric,
        reference=worst.reference,
        current=worst.current,
        limit=worst.limit,
        relative_change=_relative_change(worst.current, worst.reference),
        bad_windows=bad_windows,
        required_windows=thresholds.consecutive_windows,
    )


@dataclass(frozen=True)
class _Excess:
    """One metric of one window against its limit, oriented so that larger ``ratio`` is worse."""

    metric: str
    current: float
    reference: float | None
    limit: float
    higher_is_worse: bool

    @property
    def breached(self) -> bool:
        return self.current > self.limit if self.higher_is_worse else self.current < self.limit

    @property
    def ratio(self) -> float:
        if self.higher_is_worse:
            return self.current / self.limit if self.limit > 0 else math.inf
        # R²: how far below 1 the window is, relative to how far below 1 the limit allows.
        allowed = 1.0 - self.limit
        return (1.0 - self.current) / allowed if allowed > 0 else math.inf


def _window_readings(window: ErrorMetrics, validation: ErrorMetrics, thresholds: MetricThresholds) -> list[_Excess]:
    readings: list[_Excess] = []
    if window.cv_rmse is not None:
        limit = thresholds.cv_rmse_max
        if thresholds.cv_rmse_relative_increase is not None and validation.cv_rmse is not None:
            limit = min(limit, validation.cv_rmse * (1.0 + thresholds.cv_rmse_relative_increase))
        readings.append(_Excess("cv_rmse", window.cv_rmse, validation.cv_rmse, limit, higher_is_worse=True))
    if window.nmbe is not None:
        reference = abs(validation.nmbe) if validation.nmbe is not None else None
        readings.append(_Excess("nmbe", abs(window.nmbe), reference, thresholds.nmbe_abs_max, higher_is_worse=True))
    if window.r_squared is not None and thresholds.r_squared_min is not None:
        readings.append(
            _Excess(
                "r_squared", window.r_squared, validation.r_squared, thresholds.r_squared_min, higher_is_worse=False
            )
        )
    return readings


def _relative_change(current: float, reference: float | None) -> float | None:
    if reference is None or abs(reference) < 1e-12:
        return None
    return (current - reference) / abs(reference)


@dataclass(frozen=True)
class ResidualReference:
    """Validation residual behaviour that monitoring residuals are standardised against."""

    mean: float
    std: float
    #: Lag-1 autocorrelation of validation residuals; hourly residuals are rarely independent, and
    #: a CUSUM fed correlated values raises false alarms far more often than its nominal rate.
    lag1_autocorrelation: float = 0.0

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise ValueError("the validation residual standard deviation must be positive")
        if not -1 < self.lag1_autocorrelation < 1:
            raise ValueError("lag-1 autocorrelation must lie strictly between -1 and 1")


def residual_reference(validation_residuals: ArrayLike) -> ResidualReference:
    """Mean, standard deviation and lag-1 autocorrelation of validation residuals (NaNs dropped).

    The autocorrelation is clipped to [-0.95, 0.95] so that prewhitening never divides by ~0.
    """
    residuals = np.asarray(validation_residuals, dtype=np.float64)
    residuals = residuals[np.isfinite(residuals)]
    if residuals.size < 3:
        raise ValueError("need at least three finite validation residuals")
    centred = residuals - residuals.mean()
    variance = float(np.dot(centred, centred))
    autocorrelation = float(np.dot(centred[1:], centred[:-1]) / variance) if variance > 0 else 0.0
    return ResidualReference(
        mean=float(residuals.mean()),
        std=float(residuals.std(ddof=1)),
        lag1_autocorrelation=float(np.clip(autocorrelation, -0.95, 0.95)),
    )


@dataclass(frozen=True)
class CusumSettings:
    """Tabular CUSUM knobs in units of the (prewhitened) residual standard deviation.

    ``allowance`` k = 0.5 tunes the test to shifts of about 1 SD. ``decision_threshold`` h = 10 gives
    an in-control average run length of roughly 70,000 samples two-sided (Siegmund's approximation),
    i.e. a false alarm every ~8 years of hourly data, while a 1 SD shift is found after ~20 samples.
    """

    allowance: float = 0.5
    decision_threshold: float = 10.0

    def __post_init__(self) -> None:
        if self.allowance < 0 or self.decision_threshold <= 0:
            raise ValueError("need allowance >= 0 and decision_threshold > 0")


@dataclass(frozen=True)
class LevelShift:
    """Outcome of ``detect_level_shift``; indices refer to the residual array as given.

    ``change_index`` is the CUSUM's estimate of the first shifted sample (the last time the
    alarming statistic was zero before the alarm); ``shift`` is the mean residual change from
    there to the end of the series, in the residuals' unit (negative: less energy than expected),
    ``shift_sd`` the same in validation standard deviations.
    """

    detected: bool
    alarm_index: int | None
    change_index: int | None
    shift: float | None
    shift_sd: float | None
    #: Largest value reached by either CUSUM statistic, against ``decision_threshold``.
    max_statistic: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def detect_level_shift(
    residuals: ArrayLike,
    reference: ResidualReference,
    settings: CusumSettings | None = None,
) -> LevelShift:
    """First sustained level shift of ``residuals`` (actual - predicted, time order), if any.

    Residuals are standardised by the validation mean and SD, then prewhitened with the validation
    lag-1 autocorrelation ``r`` (``(z_t - r z_t-1) / sqrt(1 - r^2)``), which keeps the false-alarm
    rate nominal on correlated residuals; a level shift ``d`` survives as ``d * sqrt((1-r)/(1+r))``.
    Non-finite residuals are dropped (their indices are then those of the finite values).

    The CUSUM recursion ``S_t = max(0, S_t-1 + x_t)`` equals ``C_t - min(0, C_1..C_t)`` for the
    running sum ``C``, so both one-sided statistics are computed without a loop over samples.
    """
    settings = settings or CusumSettings()
    values = np.asarray(residuals, dtype=np.float64)
    standardised = (values[np.isfinite(values)] - reference.mean) / reference.std
    if standardised.size == 0:
        return LevelShift(False, None, None, None, None, 0.0)
    rho = reference.lag1_autocorrelation
    innovations = standardised.copy()
    innovations[1:] = (standardised[1:] - rho * standardised[:-1]) / math.sqrt(1.0 - rho * rho)

    upper_sum = np.cumsum(innovations - settings.allowance)
    lower_sum = np.cumsum(-innovations - settings.allowance)
    upper = upper_sum - np.minimum.accumulate(np.minimum(upper_sum, 0.0))
    lower = lower_sum - np.minimum.accumulate(np.minimum(lower_sum, 0.0))
    max_statistic = float(max(upper.max(), lower.max()))
    alarms = np.flatnonzero((upper > settings.decision_threshold) | (lower > settings.decision_threshold))
    if alarms.size == 0:
        return LevelShift(False, None, None, None, None, max_statistic)

    alarm = int(alarms[0])
    running_sum = upper_sum if upper[alarm] > settings.decision_threshold else lower_sum
    # The statistic was last zero where the running sum (with C_0 = 0 before the series) was lowest.
    with_origin = np.concatenate(([0.0], running_sum[: alarm + 1]))
    change = int(alarm + 1 - np.argmin(with_origin[::-1]))
    shift_sd = float(np.mean(standardised[change:]))
    return LevelShift(
        detected=True,
        alarm_index=alarm,
        change_index=change,
        shift=shift_sd * reference.std,
        shift_sd=shift_sd,
        max_statistic=max_statistic,
    )
