"""One evaluation of a champion on the readings that arrived after its training window.

Pure computation over frames loaded by ``monitoring``; run in a thread because prediction and the
drift statistics are CPU-bound.

- Performance: the champion's errors over the last evaluation window of out-of-sample readings.
- Data drift: the features it was trained on, over the drift window, against its reference profile.
- Concept drift: error metrics against the validation metrics and the policy limits for k consecutive
  windows, and a CUSUM on all out-of-sample residuals (a level shift such as an equipment change).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from app.ml.drift import (
    DataDriftReport,
    DataDriftThresholds,
    ErrorMetrics,
    FeatureProfile,
    LevelShift,
    MetricDegradation,
    MetricThresholds,
    ResidualReference,
    compare_to_references,
    detect_level_shift,
    detect_metric_degradation,
    residual_reference,
)
from app.ml.metrics import Metrics
from app.ml.model_types.base import FittedModel
from app.ml.quality import QualityThresholds, faulty_readings, find_issues
from app.ml.validation import evaluate_model
from app.services.tracking.policies import PolicySettings


@dataclass(frozen=True)
class Evaluation:
    window_start: datetime | None
    window_end: datetime | None
    #: None when the window held fewer matched readings than the policy's minimum.
    metrics: Metrics | None
    sample_count: int
    drift_window_start: datetime
    drift_window_end: datetime
    drift_samples: int
    data_drift: DataDriftReport
    degradation: MetricDegradation
    level_shift: LevelShift | None
    #: Data time of the first shifted reading, when a level shift was found.
    level_shift_since: datetime | None = None

    @property
    def window_degraded(self) -> bool:
        """This window alone breaches a limit (the k-window rule decides the alert)."""
        return self.degradation.bad_windows > 0 and self.metrics is not None

    @property
    def concept_drift(self) -> bool:
        return self.degradation.detected or bool(self.level_shift and self.level_shift.detected)

    @property
    def detected(self) -> bool:
        return self.data_drift.detected or self.concept_drift


#: The model's point predictions for a frame's rows (``model.predict(frame).value``, or a memory of them).
Predictions = Callable[[FittedModel, pd.DataFrame], np.ndarray]


def predicted(model: FittedModel, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict(frame).value, dtype=float)


def evaluate(
    model: FittedModel,
    references: Mapping[str, FeatureProfile],
    validation: ErrorMetrics,
    scale: ResidualReference | None,
    reporting: pd.DataFrame,
    drift_frame: pd.DataFrame,
    earlier_windows: list[ErrorMetrics],
    policy: PolicySettings,
    predictions: Predictions = predicted,
) -> Evaluation:
    """``reporting``: readings after the training window; ``drift_frame``: the drift window's readings;
    ``scale``: the champion's residual behaviour on its validation window (``residual_scale``).

    Readings the data-quality checks call faulty (a stuck meter, an implausible jump) are left out of
    the accuracy checks: they are a DATA_QUALITY alert's business, and kept in they would read as a
    degraded model for as long as they stay in the residual history.
    """
    quality = QualityThresholds(policy.gap_intervals, policy.stuck_hours, policy.jump_factor)
    reporting = reporting.loc[~faulty_readings(reporting, find_issues(reporting, quality))]
    window = (
        reporting.loc[reporting.index > reporting.index.max() - timedelta(hours=policy.evaluation_window_hours)]
        if len(reporting)
        else reporting
    )
    metrics = None
    if len(window) >= policy.min_samples:
        history = reporting.loc[reporting.index < window.index.min()]
        metrics = evaluate_model(model, window, history, fitted_here=False)
    current = ErrorMetrics(metrics.cv_rmse, metrics.nmbe, metrics.r_squared) if metrics else ErrorMetrics()
    degradation = detect_metric_degradation(
        [*earlier_windows, current],
        validation,
        MetricThresholds(
            cv_rmse_max=policy.max_cv_rmse,
            nmbe_abs_max=policy.max_abs_nmbe,
            r_squared_min=policy.min_r_squared,
            consecutive_windows=policy.consecutive_windows,
        ),
    )
    shift, predicted_reporting = _level_shift(model, scale, reporting, predictions)
    features = {
        name: drift_frame[name].to_numpy(dtype=float, na_value=np.nan)
        for name in references
        if name in drift_frame.columns
    }
    data_drift = compare_to_references(
        references,
        features,
        DataDriftThresholds(
            psi_warning=policy.psi_warning,
            psi_critical=policy.psi_critical,
            impact_warning=policy.drift_impact_warning,
            impact_critical=policy.drift_impact_critical,
        ),
        index=drift_frame.index,
        predict=_predictor(model, drift_frame, predicted_reporting),
        residual_std=scale.std if scale else None,
    )
    return Evaluation(
        window_start=_instant(window.index.min()) if len(window) else None,
        window_end=_instant(window.index.max()) if len(window) else None,
        metrics=metrics,
        sample_count=metrics.sample_count if metrics else len(window),
        drift_window_start=_instant(drift_frame.index.min()),
        drift_window_end=_instant(drift_frame.index.max()),
        drift_samples=len(drift_frame),
        data_drift=data_drift,
        degradation=degradation,
        **shift,
    )


def residual_scale(model: FittedModel, validation_frame: pd.DataFrame) -> ResidualReference | None:
    """The champion's residual behaviour on its validation window, which shifts are measured against.

    Labelled anomalies are the anomaly detector's business: spikes in the validation window would
    inflate the scale that shifts are measured against.
    """
    if len(validation_frame) < 3:
        return None
    try:
        frame = _without_labelled_anomalies(validation_frame)
        return residual_reference(_residuals(frame, predicted(model, frame)))
    except ValueError:  # a perfect in-sample fit leaves no scale to measure shifts against
        return None


def _predictor(
    model: FittedModel, frame: pd.DataFrame, known: pd.Series | None
) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    """The model on ``frame`` with some columns replaced: what data drift's impact is measured with.

    ``known``: predictions already made for readings of ``frame`` (by instant, on the same inputs: the
    level-shift check's, over the out-of-sample history the drift window usually lies in), which the
    unchanged window takes instead of predicting them again.
    """
    own = {name: frame[name].to_numpy(dtype=float, na_value=np.nan) for name in model.features if name in frame}

    def predict(columns: Mapping[str, np.ndarray]) -> np.ndarray:
        unchanged = all(
            name not in columns or np.array_equal(columns[name], values, equal_nan=True) for name, values in own.items()
        )
        if unchanged and known is not None:
            values = known.reindex(frame.index).to_numpy(dtype=float, copy=True)
            missing = np.isnan(values)
            if missing.any():
                values[missing] = np.asarray(model.predict(frame.loc[missing]).value, dtype=float)
            return values
        changed = frame.copy()
        for name in model.features:
            if name in columns:
                changed[name] = columns[name]
        return np.asarray(model.predict(changed).value, dtype=float)

    return predict


def _level_shift(
    model: FittedModel, reference: ResidualReference | None, reporting: pd.DataFrame, predictions: Predictions
) -> tuple[dict[str, Any], pd.Series | None]:
    """CUSUM of out-of-sample residuals (a two-hour labelled spike is not a level shift), and when it began;
    with the predictions it made, by instant."""
    if len(reporting) < 3 or reference is None:
        return {"level_shift": None}, None
    frame = _without_labelled_anomalies(reporting)
    predicted = predictions(model, frame)
    residuals = _residuals(frame, predicted)
    finite = np.isfinite(residuals)
    shift = detect_level_shift(residuals[finite], reference)
    since = None
    if shift.detected and shift.change_index is not None:
        since = _instant(frame.index[finite][shift.change_index])
    return {"level_shift": shift, "level_shift_since": since}, pd.Series(predicted, index=frame.index)


def _without_labelled_anomalies(frame: pd.DataFrame) -> pd.DataFrame:
    if "is_anomaly" not in frame.columns:
        return frame
    return frame.loc[~frame["is_anomaly"].fillna(False).to_numpy(dtype=bool)]


def _residuals(frame: pd.DataFrame, predictions: np.ndarray) -> np.ndarray:
    return frame["energy_kwh"].to_numpy(dtype=float) - predictions


def _instant(value: pd.Timestamp) -> datetime:
    return value.to_pydatetime()
