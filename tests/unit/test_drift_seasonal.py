"""Season- and model-aware data drift, with a real baseline model on generated readings.

The control is the season alone (trained January–October, monitored November–December): no
warning. Real shifts stay caught: production outside anything trained on, a new operating regime,
a temperature sensor reading several degrees high (through the residuals, as the model mispredicts).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from app.ml.drift import ErrorMetrics, Severity, build_reference_profile, window_verdict
from app.ml.drift.profile import read_reference_profile
from app.ml.drift.seasonal import comparable_reference, window_weeks
from app.ml.model_types import get_model_type
from app.ml.synthetic import DEMO_FLEET, TemperatureShift, generate_readings
from app.services.tracking.evaluation import Evaluation, evaluate, residual_scale
from app.services.tracking.policies import PolicySettings

PRESS, MOLDING = DEMO_FLEET[0], DEMO_FLEET[1]
TRAINED_TO = pd.Timestamp("2024-10-31 23:00", tz="UTC")
POLICY = PolicySettings()


def _monitor(frame: pd.DataFrame, *until: pd.Timestamp) -> list[Evaluation]:
    """Train on January–October once, then evaluate the week before each of ``until``."""
    training = frame.loc[:TRAINED_TO]
    model = get_model_type("baseline").fit(training)
    columns = ["energy_kwh", *model.features]
    references = read_reference_profile(
        build_reference_profile({name: training[name].to_numpy(dtype=float) for name in columns}, index=training.index)
    )
    scale = residual_scale(model, training.iloc[-len(training) // 5 :])
    evaluations = []
    for end in until:
        reporting = frame.loc[(frame.index > TRAINED_TO) & (frame.index <= end)]
        drift_frame = reporting.loc[reporting.index > end - pd.Timedelta(days=7)]
        evaluations.append(evaluate(model, references, ErrorMetrics(), scale, reporting, drift_frame, [], POLICY))
    return evaluations


def _weekly(frame: pd.DataFrame, weeks: int) -> list[Evaluation]:
    return _monitor(frame, *(TRAINED_TO + pd.Timedelta(days=7 * (week + 1)) for week in range(weeks)))


@pytest.mark.parametrize("profile", [PRESS, MOLDING], ids=lambda p: p.name)
def test_the_season_alone_raises_no_warning(profile) -> None:
    frame = generate_readings(profile, "2024-01-01", 366, seed=11)
    # Seven weeks up to 19 December: Christmas holidays are days the model never saw, a real change.
    for evaluation in _weekly(frame, 7):
        severities = {f.feature: f.severity for f in evaluation.data_drift.features}
        assert not evaluation.data_drift.detected, severities
        assert not evaluation.concept_drift
        # November is colder than the training months' average, and the model has seen colder (January–March).
        temperature = {f.feature: f for f in evaluation.data_drift.features}["outdoor_temp_c"]
        assert temperature.severity in {Severity.NONE, Severity.INFO}
        # What a dashboard shows is this verdict, not the raw PSI, which the season alone can lift.
        verdict = window_verdict([f.to_dict() for f in evaluation.data_drift.features])
        assert verdict["severity"] in {"none", "info"} and verdict["raises_alert"] is False
        assert verdict["severity"] == "none" or "within its training range" in verdict["meaning"]


def test_with_a_year_of_training_a_window_is_compared_with_the_same_weeks() -> None:
    frame = generate_readings(PRESS, "2024-01-01", 400, seed=12)
    training = frame.iloc[: 366 * 24]
    profile = read_reference_profile(
        build_reference_profile({"outdoor_temp_c": training["outdoor_temp_c"].to_numpy()}, index=training.index)
    )["outdoor_temp_c"]
    window = frame.index[-24 * 7 :]
    seasonal = comparable_reference(profile, window_weeks(window))
    assert seasonal is not None
    current = frame["outdoor_temp_c"].loc[window].mean()
    # The same weeks' mean is close to the window's; the whole year's is far off.
    assert abs(seasonal.mean - current) < abs(profile.mean - current)
    spring_to_autumn = training.iloc[24 * 100 : 24 * 300]  # weeks 15-43: not the window's weeks 5-6
    uncovered = read_reference_profile(
        build_reference_profile({"t": spring_to_autumn["outdoor_temp_c"].to_numpy()}, index=spring_to_autumn.index)
    )["t"]
    assert comparable_reference(uncovered, window_weeks(window)) is None


def test_production_beyond_anything_trained_on_warns() -> None:
    frame = generate_readings(PRESS, "2024-01-01", 366, seed=13)
    changed = frame.index > pd.Timestamp("2024-11-10", tz="UTC")
    frame.loc[changed, "production_units"] *= 1.6  # a lighter product: more units for the same energy

    (evaluation,) = _monitor(frame, pd.Timestamp("2024-11-17", tz="UTC"))

    production = {f.feature: f for f in evaluation.data_drift.features}["production_units"]
    assert production.drifted and production.severity in {Severity.WARNING, Severity.CRITICAL}
    assert "outside the training range" in production.explanation


def test_a_new_operating_regime_warns_through_its_impact_on_predictions() -> None:
    two_shifts = generate_readings(MOLDING, "2024-01-01", 366, seed=14)
    three_shifts = generate_readings(replace(MOLDING, shifts=3), "2024-01-01", 366, seed=14)
    start = pd.Timestamp("2024-11-10", tz="UTC")
    frame = pd.concat([two_shifts.loc[two_shifts.index < start], three_shifts.loc[three_shifts.index >= start]])

    (evaluation,) = _monitor(frame, pd.Timestamp("2024-11-17", tz="UTC"))

    production = {f.feature: f for f in evaluation.data_drift.features}["production_units"]
    assert production.drifted, production.explanation
    assert production.impact is not None and abs(production.impact) >= POLICY.drift_impact_warning
    verdict = window_verdict([f.to_dict() for f in evaluation.data_drift.features])
    assert (verdict["feature"], verdict["raises_alert"]) == ("production_units", True)
    assert verdict["severity"] == evaluation.data_drift.severity.value and verdict["method"] in {"impact", "envelope"}


def test_a_temperature_sensor_reading_high_is_caught_by_the_residuals() -> None:
    offset = TemperatureShift(pd.Timestamp("2024-11-10", tz="UTC"), 5.0)
    frame = generate_readings(PRESS, "2024-01-01", 366, seed=15)
    faulty = generate_readings(PRESS, "2024-01-01", 366, seed=15, temperature_shift=offset)
    frame["outdoor_temp_c"] = faulty["outdoor_temp_c"]  # the energy still follows the true weather

    (evaluation,) = _monitor(frame, pd.Timestamp("2024-11-24", tz="UTC"))

    assert evaluation.concept_drift and evaluation.level_shift is not None and evaluation.level_shift.detected
    assert evaluation.level_shift_since is not None
    assert evaluation.level_shift_since >= pd.Timestamp("2024-11-09", tz="UTC").to_pydatetime()
    assert np.sign(evaluation.level_shift.shift) > 0  # energy above what the warm readings predict
