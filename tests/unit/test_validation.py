"""The training pipeline: time-ordered split, progress and abort, metrics, champion comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.ml.model_types import InsufficientDataError, get_model_type
from app.ml.synthetic import DEMO_FLEET, LevelShift, generate_readings
from app.ml.validation import (
    MIN_VALIDATION_ROWS,
    STEP_FRACTIONS,
    compare_with_champion,
    seasonal_period,
    split_time_ordered,
    train_and_validate,
)

PRESS = DEMO_FLEET[0]


@pytest.fixture(scope="module")
def readings() -> pd.DataFrame:
    return generate_readings(PRESS, "2024-02-05", 60, seed=21, anomaly_events=8)


def test_split_holds_out_the_most_recent_readings(readings: pd.DataFrame) -> None:
    shuffled = readings.sample(frac=1.0, random_state=0)
    shuffled.iloc[:5, shuffled.columns.get_loc("energy_kwh")] = np.nan
    training, validation = split_time_ordered(shuffled)
    assert len(training) + len(validation) == len(readings) - 5
    assert len(validation) == int(np.ceil(0.2 * (len(readings) - 5)))
    assert training.index.is_monotonic_increasing and validation.index.is_monotonic_increasing
    assert training.index.max() < validation.index.min()
    assert validation.index.max() == readings.index.max()
    short_training, short_validation = split_time_ordered(readings.iloc[:100])
    assert len(short_validation) == MIN_VALIDATION_ROWS and len(short_training) == 100 - MIN_VALIDATION_ROWS
    with pytest.raises(InsufficientDataError, match="cannot be split"):
        split_time_ordered(readings.iloc[:MIN_VALIDATION_ROWS])


def test_seasonal_period_follows_interval_and_history() -> None:
    def frame(periods: int, freq: str) -> pd.DataFrame:
        return pd.DataFrame(index=pd.date_range("2024-01-01", periods=periods, freq=freq, tz="UTC"))

    assert seasonal_period(frame(24 * 21, "h")) == 168
    assert seasonal_period(frame(24 * 10, "h")) == 24
    assert seasonal_period(frame(60, "D")) == 7
    assert seasonal_period(frame(10, "D")) is None


def test_pipeline_reports_steps_and_returns_windows(readings: pd.DataFrame) -> None:
    steps: list[tuple[str, float]] = []
    outcome = train_and_validate(get_model_type("baseline"), readings, progress=lambda *step: steps.append(step))
    assert steps == list(STEP_FRACTIONS.items())
    training, validation = outcome.training_window, outcome.validation_window
    assert training.start == readings.index[0] and validation.end == readings.index[-1]
    assert training.end < validation.start and training.rows + validation.rows == len(readings)
    assert outcome.metrics.sample_count == validation.rows
    assert outcome.primary_value == outcome.metrics.cv_rmse is not None
    assert outcome.metrics.mase is not None and outcome.metrics.fsu is not None
    assert outcome.metrics.f1 is None  # a baseline does not flag anomalies
    # The stored artifact is refitted on the whole window: it knows the validation weeks too.
    refit_error = np.abs(outcome.model.predict(readings).value - readings["energy_kwh"]).iloc[-validation.rows :]
    assert np.isfinite(refit_error).all()


def test_progress_callback_can_abort_between_steps(readings: pd.DataFrame) -> None:
    class Cancelled(Exception):
        pass

    seen: list[str] = []

    def cancel_at_refit(step: str, fraction: float) -> None:
        seen.append(step)
        if step == "refit":
            raise Cancelled

    with pytest.raises(Cancelled):
        train_and_validate(get_model_type("baseline"), readings, progress=cancel_at_refit)
    assert seen == ["features", "fit", "validate", "refit"]


def test_insufficient_data_fails_before_fitting(readings: pd.DataFrame) -> None:
    seen: list[str] = []
    with pytest.raises(InsufficientDataError, match="baseline needs"):
        train_and_validate(get_model_type("baseline"), readings.iloc[: 10 * 24], progress=lambda s, f: seen.append(s))
    assert seen == ["features"]
    # 16 days pass the check as a whole, but the 12.8 days left after the holdout do not.
    with pytest.raises(InsufficientDataError, match="after holding out the last 77 readings"):
        train_and_validate(get_model_type("baseline"), readings.iloc[: 16 * 24])


def test_anomaly_outcome_carries_event_metrics(readings: pd.DataFrame) -> None:
    model_type = get_model_type("anomaly")
    outcome = train_and_validate(model_type, readings)
    assert outcome.metrics.f1 is not None and outcome.metrics.recall == 1.0
    assert outcome.primary_value == pytest.approx(1.0 - outcome.metrics.f1)
    assert outcome.metrics_dict(model_type)["detection_loss"] == outcome.primary_value
    unlabelled = readings.assign(is_anomaly=pd.array([pd.NA] * len(readings), dtype="boolean"))
    blind = train_and_validate(model_type, unlabelled)
    assert blind.metrics.f1 is None and blind.primary_value == blind.metrics.cv_rmse


def test_candidate_after_equipment_change_beats_the_old_champion() -> None:
    shift = LevelShift(pd.Timestamp("2024-03-10", tz="UTC"), -0.15)
    readings = generate_readings(PRESS, "2024-01-01", 100, seed=22, level_shift=shift)
    model_type = get_model_type("baseline")
    champion = model_type.fit(readings.loc[:"2024-03-09"])
    window = readings.loc["2024-02-01":]
    candidate = train_and_validate(model_type, window)
    comparison = compare_with_champion(model_type, candidate, champion, window)
    assert comparison.metric == "cv_rmse" and comparison.candidate == candidate.primary_value
    assert comparison.candidate_better and comparison.relative_change is not None
    # The old baseline overestimates by ~15 % after the change; the candidate's window straddles the
    # change, so it is not perfect either, but clearly better.
    assert comparison.relative_change < -0.3
    itself = compare_with_champion(
        model_type, candidate, model_type.fit(window.loc[: candidate.training_window.end]), window
    )
    assert itself.relative_change == pytest.approx(0.0) and not itself.candidate_better


def test_daily_readings_go_through_the_same_pipeline() -> None:
    hourly = generate_readings(PRESS, "2024-01-01", 200, seed=23)
    daily = hourly.resample("D").agg(
        {"energy_kwh": "sum", "production_units": "sum", "outdoor_temp_c": "mean", "is_anomaly": "max"}
    )
    outcome = train_and_validate(get_model_type("baseline"), daily)
    assert outcome.model.hyperparameters["time_of_week"] == "day_of_week"
    assert outcome.metrics.cv_rmse is not None and outcome.metrics.cv_rmse < 0.15
