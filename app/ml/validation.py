"""The pure training pipeline: check, split by time, fit, validate, refit.

The last ``VALIDATION_FRACTION`` of the readings (never fewer than ``MIN_VALIDATION_ROWS``) is the
validation window; it is never shuffled, because a model is used to predict the future and any
shuffled split leaks tomorrow's weather and schedule into training. The model fitted on the
training part is scored on the validation window with ``p = parameter_count``.

The artifact is then refitted on the whole window. The validation metrics therefore describe a
sibling fitted on 80 % of the data rather than the stored model itself; we accept that because the
most recent weeks are the most informative for predicting the next ones (a baseline that never
saw the last month of operation would be stale on day one), and the refit is the same procedure
on a superset, so the held-out score is a fair, slightly pessimistic estimate.

``progress(step, fraction)`` is called before each step so a job runner can report progress and
check for cancellation; if it raises, the pipeline stops there and the exception propagates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from app.ml.features import ENERGY, infer_step, is_sub_daily
from app.ml.metrics import RELATIVE_ZERO, Metrics, evaluate
from app.ml.model_types.base import FittedModel, InsufficientDataError, ModelType, anomaly_labels

VALIDATION_FRACTION = 0.2
MIN_VALIDATION_ROWS = 48
#: Steps reported to ``progress`` and the share of the work done when each starts.
STEP_FRACTIONS: dict[str, float] = {"features": 0.0, "fit": 0.05, "validate": 0.45, "refit": 0.5, "done": 1.0}

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Window:
    start: pd.Timestamp
    end: pd.Timestamp
    rows: int

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Window:
        return cls(frame.index[0], frame.index[-1], len(frame))


@dataclass(frozen=True)
class TrainingOutcome:
    """A model refitted on the whole window and the scores of its sibling on the validation window."""

    model: FittedModel
    metrics: Metrics
    #: The ``primary_metric`` value of ``metrics`` (lower is better); None if undefined there.
    primary_value: float | None
    training_window: Window
    validation_window: Window

    def metrics_dict(self, model_type: ModelType) -> dict[str, float | int | None]:
        """All metrics plus the primary metric under its own name (ANOMALY's is derived)."""
        return {**self.metrics.as_dict(), model_type.primary_metric: self.primary_value}


@dataclass(frozen=True)
class ChampionComparison:
    metric: str
    candidate: float | None
    champion: float | None
    #: (candidate - champion) / |champion|; negative means the candidate is better. None when the
    #: champion's value is zero or either value is undefined (use ``candidate_better`` then).
    relative_change: float | None
    candidate_better: bool


def _usable(frame: pd.DataFrame) -> pd.DataFrame:
    """Time-ordered rows with an energy reading: the only rows that can be trained or scored on."""
    ordered = frame.sort_index()
    return ordered[np.isfinite(ordered[ENERGY].to_numpy(dtype=float))]


def split_time_ordered(
    frame: pd.DataFrame, validation_fraction: float = VALIDATION_FRACTION
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training part, validation part): the validation part is the most recent readings."""
    usable = _usable(frame)
    validation_rows = max(math.ceil(validation_fraction * len(usable)), MIN_VALIDATION_ROWS)
    if validation_rows >= len(usable):
        raise InsufficientDataError(
            f"{len(usable)} readings with energy_kwh cannot be split into training and the "
            f"{validation_rows} most recent readings needed for validation"
        )
    return usable.iloc[:-validation_rows], usable.iloc[-validation_rows:]


def seasonal_period(history: pd.DataFrame) -> int | None:
    """MASE season in rows: a week when the history holds two, else a day for sub-daily readings."""
    if len(history) < 2:
        return None
    step = infer_step(history.index)
    week, day = round(pd.Timedelta(days=7) / step), round(pd.Timedelta(days=1) / step)
    if len(history) >= 2 * week:
        return week
    return day if is_sub_daily(step) and len(history) >= 2 * day else None


def _history_on_grid(history: pd.DataFrame) -> np.ndarray:
    """History energy on its regular time grid, NaN in gaps, so a lag of m rows is m intervals in time.

    Timestamps a little off the grid (meter clock jitter) snap to the nearest slot.
    """
    if len(history) < 2:
        return history[ENERGY].to_numpy(dtype=float)
    step = infer_step(history.index)
    grid = pd.date_range(history.index[0], history.index[-1], freq=step)
    return history[ENERGY].reindex(grid, method="nearest", tolerance=step / 2).to_numpy(dtype=float)


def evaluate_model(
    model: FittedModel, frame: pd.DataFrame, history: pd.DataFrame, *, fitted_here: bool = True
) -> Metrics:
    """Score ``model`` on ``frame``; ``history`` (the readings before it) scales MASE.

    ``fitted_here`` applies the n - p degrees-of-freedom correction of CV(RMSE) and NMBE (ASHRAE G14),
    as validation does. Monitoring scores windows no parameter was estimated on, often shorter than
    p (a 24-hour window against ~170 time-of-week terms), so there p = 0.
    """
    prediction = model.predict(frame)
    labels = anomaly_labels(frame) if prediction.flag is not None else None
    return evaluate(
        frame[ENERGY].to_numpy(dtype=float),
        prediction.value,
        model.parameter_count if fitted_here else 0,
        flags=prediction.flag if labels is not None else None,
        labels=labels,
        seasonal_history=_history_on_grid(history),
        season=seasonal_period(history),
    )


def train_and_validate(
    model_type: ModelType,
    frame: pd.DataFrame,
    hyperparameters: dict[str, Any] | None = None,
    progress: Progress | None = None,
    validation_fraction: float = VALIDATION_FRACTION,
) -> TrainingOutcome:
    """Run the whole pipeline; raises ``InsufficientDataError`` before any fitting if data is short."""
    report = progress or (lambda step, fraction: None)

    report("features", STEP_FRACTIONS["features"])
    model_type.check_sufficiency(frame)
    training, validation = split_time_ordered(frame, validation_fraction)
    try:
        model_type.check_sufficiency(training)
    except InsufficientDataError as error:
        raise InsufficientDataError(
            f"after holding out the last {len(validation)} readings for validation: {error}"
        ) from error

    report("fit", STEP_FRACTIONS["fit"])
    candidate = model_type.fit(training, hyperparameters)

    report("validate", STEP_FRACTIONS["validate"])
    metrics = evaluate_model(candidate, validation, training)

    report("refit", STEP_FRACTIONS["refit"])
    model = model_type.fit(_usable(frame), hyperparameters)

    report("done", STEP_FRACTIONS["done"])
    return TrainingOutcome(
        model=model,
        metrics=metrics,
        primary_value=model_type.primary_value(metrics),
        training_window=Window.of(training),
        validation_window=Window.of(validation),
    )


def compare_with_champion(
    model_type: ModelType, outcome: TrainingOutcome, champion: FittedModel, frame: pd.DataFrame
) -> ChampionComparison:
    """Score the champion on the candidate's validation window of ``frame`` and compare primary metrics.

    ``frame`` is the window the candidate was trained on. The champion was usually trained earlier,
    often on data that overlaps this validation window, which flatters the champion: a candidate
    that still wins is genuinely better.
    """
    usable = _usable(frame)
    window = outcome.validation_window
    validation = usable.loc[window.start : window.end]
    history = usable.loc[: window.start].iloc[:-1]
    champion_value = model_type.primary_value(evaluate_model(champion, validation, history))
    candidate_value = outcome.primary_value

    relative_change = None
    if candidate_value is not None and champion_value is not None and abs(champion_value) > RELATIVE_ZERO:
        relative_change = (candidate_value - champion_value) / abs(champion_value)
    if candidate_value is None:
        better = False
    else:
        better = champion_value is None or candidate_value < champion_value
    return ChampionComparison(model_type.primary_metric, candidate_value, champion_value, relative_change, better)
