"""The one interface every model type implements.

Training data is a ``pandas.DataFrame`` indexed by a tz-aware UTC ``DatetimeIndex`` named ``ts``
(sorted, unique) with the columns of ``READING_COLUMNS``. ``production_units`` and ``outdoor_temp_c``
may be entirely NaN when a machine does not report that driver; ``is_anomaly`` is a nullable boolean
(``pd.NA`` where no label is known). ``energy_kwh`` is the target.

A fitted model is serialised to bytes so that any worker or API process on any host can load it
from the database; it never depends on process-local state.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from app.ml.features import infer_step
from app.ml.metrics import Metrics

READING_COLUMNS: tuple[str, ...] = ("energy_kwh", "production_units", "outdoor_temp_c", "is_anomaly")
#: Bumped when the JSON layout of artifacts changes incompatibly.
ARTIFACT_FORMAT = 1
#: Below this many readings no model type can be fitted and validated, whatever the interval.
MIN_ROWS = 30


class InsufficientDataError(ValueError):
    """The training window cannot support a trustworthy model of this type (too few rows, gaps)."""


def anomaly_labels(frame: pd.DataFrame) -> np.ndarray | None:
    """``is_anomaly`` as booleans when any row is labelled, else None; unlabelled rows count as normal."""
    labels = frame["is_anomaly"].astype("boolean")
    return labels.fillna(False).to_numpy(dtype=bool) if labels.notna().any() else None


def _interval_name(step: pd.Timedelta) -> str:
    seconds = step.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}-{unit}"
    return f"{seconds:g}-second"


def require_history(frame: pd.DataFrame, model_name: str, min_days: float, min_coverage: float = 0.5) -> None:
    """Raise ``InsufficientDataError`` unless the window has enough energy readings over enough time.

    Both limits matter: many rows over a short span cannot show the weekly schedule or a weather
    response, and a long span with few readings (a meter mostly offline) cannot either. Coverage is
    measured against the reading interval (the median spacing), so hourly and daily meters alike work.
    """
    usable = frame.index[np.isfinite(frame["energy_kwh"].to_numpy(dtype=float))] if len(frame) else frame.index
    if len(usable) < MIN_ROWS:
        raise InsufficientDataError(
            f"{model_name} needs at least {MIN_ROWS} readings with energy_kwh; the window has {len(usable)}"
        )
    span = usable[-1] - usable[0]
    step = infer_step(usable)
    coverage = len(usable) / (span / step + 1)
    if span < pd.Timedelta(days=min_days) or coverage < min_coverage:
        raise InsufficientDataError(
            f"{model_name} needs energy_kwh readings spanning at least {min_days:g} days with at least "
            f"{min_coverage:.0%} of its {_interval_name(step)} intervals filled; the window spans "
            f"{span / pd.Timedelta(days=1):.1f} days with {coverage:.0%} filled ({len(usable)} readings)"
        )


def resolve_hyperparameters(model_name: str, defaults: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with ``given``; an unknown key is a typo that would silently do nothing, so it fails."""
    unknown = sorted(set(given or {}) - set(defaults))
    if unknown:
        raise ValueError(f"{model_name} has no hyperparameter {', '.join(unknown)}; known: {', '.join(defaults)}")
    return {**defaults, **(given or {})}


def envelope(model_name: str, payload: dict[str, Any]) -> bytes:
    """Artifacts are versioned, strict JSON (no NaN): readable in any process and by a person, no pickle.

    Pickled scikit-learn or statsmodels objects break across library versions and execute code on
    load; parameters as JSON do neither.
    """
    document = {"model_type": model_name, "format": ARTIFACT_FORMAT, **payload}
    return json.dumps(document, allow_nan=False).encode()


def open_envelope(model_name: str, artifact: bytes) -> dict[str, Any]:
    """Inverse of ``envelope``; refuses an artifact of another model type or format."""
    data = json.loads(artifact)
    if data.get("model_type") != model_name or data.get("format") != ARTIFACT_FORMAT:
        raise ValueError(
            f"artifact is {data.get('model_type')!r} format {data.get('format')!r}, "
            f"expected {model_name!r} format {ARTIFACT_FORMAT}"
        )
    return data


@dataclass(frozen=True)
class Prediction:
    """Per-row output of a fitted model.

    ``value`` is the predicted kWh (for ANOMALY the expected kWh the score is measured against);
    ``score`` and ``flag`` are filled by anomaly detectors only.
    """

    value: np.ndarray
    score: np.ndarray | None = None
    flag: np.ndarray | None = None


@dataclass
class FittedModel(ABC):
    """A trained model that can predict and be stored.

    ``features`` lists the reading columns the model consumes (the drivers drift monitoring
    watches); how they are engineered (balance points, calendar terms) is in ``hyperparameters``.
    """

    features: list[str]
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    @property
    @abstractmethod
    def parameter_count(self) -> int:
        """Number of fitted parameters p, used by the n - p corrections of CV(RMSE) and NMBE."""

    @abstractmethod
    def predict(self, frame: pd.DataFrame) -> Prediction:
        """Predict for the rows of ``frame`` (same layout as training data; ``energy_kwh`` may be absent)."""

    @abstractmethod
    def to_bytes(self) -> bytes:
        """Serialise everything needed to predict later in another process."""


class ModelType(ABC):
    """A kind of model (BASELINE, ANOMALY, FORECAST_ARIMA, FORECAST_PROPHET)."""

    name: ClassVar[str]
    #: Metric whose lower value wins when a new version is compared with the champion.
    primary_metric: ClassVar[str]
    #: Shortest history ``check_sufficiency`` accepts; lets schedulers skip hopeless series cheaply.
    min_training_days: ClassVar[float]

    def primary_value(self, metrics: Metrics) -> float | None:
        """The number compared between versions (lower wins): by default the ``primary_metric`` field."""
        return getattr(metrics, self.primary_metric)

    def check_sufficiency(self, frame: pd.DataFrame) -> None:
        """Raise ``InsufficientDataError`` with a message a person can act on.

        Every type needs ``min_training_days`` of reasonably covered history; a type with further
        needs extends this.
        """
        require_history(frame, self.name, self.min_training_days)

    @abstractmethod
    def fit(self, frame: pd.DataFrame, hyperparameters: dict[str, Any] | None = None) -> FittedModel:
        """Fit on ``frame`` and return the fitted model."""

    @abstractmethod
    def load(self, artifact: bytes) -> FittedModel:
        """Inverse of ``FittedModel.to_bytes``."""
