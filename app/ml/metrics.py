"""Goodness-of-fit and detection metrics (ASHRAE Guideline 14 / CalTRACK conventions).

Residuals are ``e = y - ŷ`` and ``p`` is the number of fitted parameters. Every metric is a plain
float or ``None`` when it is not defined for the data (no rows, a mean of zero, no labels): callers
store these in the database and show them on dashboards, where NaN or infinity would be a lie that
also breaks JSON. Rows whose actual or predicted value is not finite are ignored, so a model that
cannot predict a row (a missing driver) is judged on the rows it could predict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import stats

#: A mean (or scale) smaller than this relative to the largest |value| counts as zero.
RELATIVE_ZERO = 1e-9
#: MAPE only counts rows whose |actual| exceeds this fraction of the mean |actual|.
DEFAULT_MAPE_FLOOR_FRACTION = 0.1
#: Savings fraction F and confidence level assumed by the reported FSU (G14 Annex B example values).
DEFAULT_SAVINGS_FRACTION = 0.1
DEFAULT_FSU_CONFIDENCE = 0.9


@dataclass(frozen=True)
class Metrics:
    """One evaluation of a model on a window; ``None`` marks a metric that does not apply."""

    sample_count: int
    r_squared: float | None = None
    adj_r_squared: float | None = None
    rmse: float | None = None
    mae: float | None = None
    mape: float | None = None
    cv_rmse: float | None = None
    nmbe: float | None = None
    wape: float | None = None
    mase: float | None = None
    fsu: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True)
class EventMetrics:
    """Event-level detection quality; counts are kept so a reader can judge how much evidence there is."""

    true_events: int
    detected_events: int
    precision: float | None
    recall: float | None
    f1: float | None


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _ratio(numerator: float, denominator: float, magnitude: float) -> float | None:
    """``numerator / denominator`` or None when the denominator is zero at the data's scale."""
    if abs(denominator) <= RELATIVE_ZERO * max(magnitude, 1.0):
        return None
    return _finite(numerator / denominator)


def lag1_autocorrelation(residuals: np.ndarray) -> float | None:
    """Lag-1 autocorrelation of consecutive residuals (None for fewer than three or constant ones)."""
    values = np.asarray(residuals, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 3:
        return None
    centred = values - values.mean()
    denominator = float(centred @ centred)
    return _ratio(float(centred[1:] @ centred[:-1]), denominator, denominator)


def fractional_savings_uncertainty(
    cv_rmse: float | None,
    residuals: np.ndarray,
    parameter_count: int,
    reporting_rows: int,
    savings_fraction: float = DEFAULT_SAVINGS_FRACTION,
    confidence: float = DEFAULT_FSU_CONFIDENCE,
) -> float | None:
    """G14 Annex B: ``1.26·t·CV·sqrt((n/n')(1 + 2/n')/m) / F`` with ``n' = n(1-ρ)/(1+ρ)``.

    ρ is the lag-1 autocorrelation of the residuals; autocorrelated hourly errors carry less
    information than their count suggests, which is why ``n'`` replaces ``n``. A negative ρ is
    clamped to zero so the correction never claims more certainty than independent errors give.
    """
    n = int(np.isfinite(np.asarray(residuals, dtype=float)).sum())
    rho = lag1_autocorrelation(residuals)
    if cv_rmse is None or rho is None or reporting_rows <= 0 or savings_fraction <= 0 or n - parameter_count < 1:
        return None
    rho = max(rho, 0.0)
    effective = n * (1.0 - rho) / (1.0 + rho)
    if effective < 1.0:
        return None
    t_value = float(stats.t.ppf(0.5 + confidence / 2.0, n - parameter_count))
    spread = np.sqrt((n / effective) * (1.0 + 2.0 / effective) / reporting_rows)
    return _finite(1.26 * t_value * cv_rmse * spread / savings_fraction)


def seasonal_naive_scale(history: np.ndarray, season: int) -> float | None:
    """Mean |y_t - y_{t-m}| over the history: the MASE denominator (Hyndman & Koehler 2006)."""
    values = np.asarray(history, dtype=float)
    if season < 1 or len(values) <= season:
        return None
    differences = np.abs(values[season:] - values[:-season])
    differences = differences[np.isfinite(differences)]
    if len(differences) == 0:
        return None
    scale = float(differences.mean())
    return scale if scale > RELATIVE_ZERO * max(float(np.nanmax(np.abs(values))), 1.0) else None


def regression_metrics(
    actual: np.ndarray,
    predicted: np.ndarray,
    parameter_count: int = 0,
    *,
    seasonal_history: np.ndarray | None = None,
    season: int | None = None,
    mape_floor_fraction: float = DEFAULT_MAPE_FLOOR_FRACTION,
) -> Metrics:
    """Error metrics of ``predicted`` against ``actual``.

    MASE needs ``seasonal_history`` (the actuals the model was trained on) and ``season`` (e.g. 24
    or 168 rows). FSU assumes a reporting period as long as the evaluated window and the default
    savings fraction, so it reads "how well could this model verify 10 % savings over a period like
    this one"; call ``fractional_savings_uncertainty`` directly for other assumptions.
    """
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    mask = np.isfinite(actual) & np.isfinite(predicted)
    y, residuals = actual[mask], actual[mask] - predicted[mask]
    n = len(y)
    if n == 0:
        return Metrics(sample_count=0)
    magnitude = float(np.abs(y).max())
    mean = float(y.mean())
    sse = float(residuals @ residuals)
    sst = float(((y - mean) ** 2).sum())
    degrees = n - parameter_count

    r_squared = None if sst <= RELATIVE_ZERO * max(magnitude**2, 1.0) * n else 1.0 - sse / sst
    adj_r_squared = None
    if r_squared is not None and n - max(parameter_count, 1) > 0:
        adj_r_squared = 1.0 - (1.0 - r_squared) * (n - 1) / (n - max(parameter_count, 1))
    cv_rmse = _ratio(float(np.sqrt(sse / degrees)), mean, magnitude) if degrees > 0 else None
    nmbe = _ratio(float(residuals.sum()), degrees * mean, degrees * magnitude) if degrees > 0 else None
    absolute = np.abs(residuals)
    above_floor = np.abs(y) > mape_floor_fraction * float(np.abs(y).mean())
    # Values just above a subnormal floor can overflow the ratio; such a MAPE is meaningless and becomes None.
    with np.errstate(over="ignore"):
        mape = _finite((absolute[above_floor] / np.abs(y[above_floor])).mean()) if above_floor.any() else None
    scale = seasonal_naive_scale(seasonal_history, season) if seasonal_history is not None and season else None

    return Metrics(
        sample_count=n,
        r_squared=_finite(r_squared) if r_squared is not None else None,
        adj_r_squared=_finite(adj_r_squared) if adj_r_squared is not None else None,
        rmse=_finite(np.sqrt(sse / n)),
        mae=_finite(absolute.mean()),
        mape=mape,
        cv_rmse=cv_rmse,
        nmbe=nmbe,
        wape=_ratio(float(absolute.sum()), float(np.abs(y).sum()), n * magnitude),
        mase=_finite(absolute.mean() / scale) if scale is not None else None,
        fsu=fractional_savings_uncertainty(cv_rmse, residuals, parameter_count, n),
    )


def contiguous_runs(mask: np.ndarray) -> np.ndarray:
    """(start, stop) row pairs, stop exclusive, of every run of true values."""
    padded = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges.reshape(-1, 2)


def _overlapping(runs: np.ndarray, others: np.ndarray) -> int:
    """How many of ``runs`` share at least one row with any of ``others``."""
    if len(runs) == 0 or len(others) == 0:
        return 0
    overlaps = (runs[:, None, 0] < others[None, :, 1]) & (others[None, :, 0] < runs[:, None, 1])
    return int(overlaps.any(axis=1).sum())


def event_metrics(flags: np.ndarray, labels: np.ndarray) -> EventMetrics:
    """Precision/recall/F1 over events, not rows.

    An event is a contiguous run of true rows. A labelled event counts as found when any detected
    event overlaps it; a detected event counts as correct when it overlaps any labelled event.
    Unlike point-adjusted scores, one lucky flag inside a long event does not mark every row of it
    found, and ten fragmented detections of one event are ten detections, all correct.
    With no detections precision is None (nothing to judge); with no labelled events recall is None;
    F1 is None only when neither exists and 0 when one side is empty and the other is not.
    """
    truth, detected = contiguous_runs(labels), contiguous_runs(flags)
    precision = _overlapping(detected, truth) / len(detected) if len(detected) else None
    recall = _overlapping(truth, detected) / len(truth) if len(truth) else None
    if precision is None and recall is None:
        f1 = None
    elif precision is None or recall is None or precision + recall == 0:
        f1 = 0.0
    else:
        f1 = 2.0 * precision * recall / (precision + recall)
    return EventMetrics(len(truth), len(detected), precision, recall, f1)


def evaluate(
    actual: np.ndarray,
    predicted: np.ndarray,
    parameter_count: int = 0,
    *,
    flags: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    seasonal_history: np.ndarray | None = None,
    season: int | None = None,
) -> Metrics:
    """Regression metrics, plus event metrics when both detector flags and known labels are given."""
    metrics = regression_metrics(actual, predicted, parameter_count, seasonal_history=seasonal_history, season=season)
    if flags is None or labels is None:
        return metrics
    events = event_metrics(flags, labels)
    return replace(metrics, precision=events.precision, recall=events.recall, f1=events.f1)
