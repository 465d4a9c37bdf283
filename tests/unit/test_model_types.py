"""Every model type learns known structure, beats a naive reference, and survives serialisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.ml.metrics import event_metrics, regression_metrics
from app.ml.model_types import MODEL_TYPE_NAMES, FittedModel, InsufficientDataError, get_model_type
from app.ml.model_types.forecast_prophet import ProphetForecaster, _prophet_calls, _prophet_frame
from app.ml.synthetic import DEMO_FLEET, generate_readings

MACHINES = {profile.name: profile for profile in DEMO_FLEET}
#: Driver combinations: both drivers, temperature only (building), production only (compressor).
MACHINE_NAMES = ("press-line-1", "office-building", "compressor-3")
TRAINING_DAYS, VALIDATION_DAYS = 70, 14


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {
        name: generate_readings(MACHINES[name], "2024-02-05", TRAINING_DAYS + VALIDATION_DAYS, seed=number)
        for number, name in enumerate(MACHINE_NAMES)
    }


@pytest.fixture(scope="module")
def fitted(frames: dict[str, pd.DataFrame]) -> dict[tuple[str, str], FittedModel]:
    return {
        (model_name, machine): get_model_type(model_name).fit(frame.iloc[: TRAINING_DAYS * 24])
        for model_name in MODEL_TYPE_NAMES
        for machine, frame in frames.items()
    }


def test_registry() -> None:
    assert MODEL_TYPE_NAMES == ("baseline", "anomaly", "forecast_arima", "forecast_prophet")
    for name in MODEL_TYPE_NAMES:
        assert get_model_type(name).name == name
    assert get_model_type("FORECAST_ARIMA").name == "forecast_arima"
    with pytest.raises(KeyError, match="unknown model type"):
        get_model_type("lstm")


@pytest.mark.parametrize("machine", MACHINE_NAMES)
@pytest.mark.parametrize("model_name", MODEL_TYPE_NAMES)
def test_beats_naive_reference_on_later_data(
    model_name: str, machine: str, frames: dict[str, pd.DataFrame], fitted: dict[tuple[str, str], FittedModel]
) -> None:
    frame = frames[machine]
    training, validation = frame.iloc[: TRAINING_DAYS * 24], frame.iloc[TRAINING_DAYS * 24 :]
    model = fitted[(model_name, machine)]
    actual = validation["energy_kwh"].to_numpy()
    predicted = model.predict(validation).value
    metrics = regression_metrics(
        actual, predicted, model.parameter_count, seasonal_history=training["energy_kwh"].to_numpy(), season=168
    )
    mean_reference = regression_metrics(actual, np.full(len(actual), training["energy_kwh"].mean()), 1)
    assert metrics.cv_rmse is not None and mean_reference.cv_rmse is not None
    assert metrics.cv_rmse < 0.5 * mean_reference.cv_rmse
    assert metrics.mase is not None and metrics.mase < 0.7  # seasonal naive ("same hour last week") scores 1
    assert metrics.cv_rmse < 0.3 and abs(metrics.nmbe or 0.0) < 0.1  # ASHRAE G14 hourly acceptance
    assert set(model.features) <= {"production_units", "outdoor_temp_c"}


@pytest.mark.parametrize("model_name", MODEL_TYPE_NAMES)
def test_serialise_load_predicts_identically(
    model_name: str, frames: dict[str, pd.DataFrame], fitted: dict[tuple[str, str], FittedModel]
) -> None:
    model_type = get_model_type(model_name)
    model = fitted[(model_name, "press-line-1")]
    validation = frames["press-line-1"].iloc[TRAINING_DAYS * 24 :]
    loaded = model_type.load(model.to_bytes())
    before, after = model.predict(validation), loaded.predict(validation)
    np.testing.assert_array_equal(before.value, after.value)
    for original, restored in ((before.score, after.score), (before.flag, after.flag)):
        assert (original is None) == (restored is None)
        if original is not None:
            np.testing.assert_array_equal(original, restored)
    assert loaded.parameter_count == model.parameter_count
    assert loaded.features == model.features and loaded.hyperparameters == model.hyperparameters
    other = next(name for name in MODEL_TYPE_NAMES if name != model_name)
    with pytest.raises(ValueError, match="expected"):
        get_model_type(other).load(model.to_bytes())


@pytest.mark.parametrize("model_name", MODEL_TYPE_NAMES)
def test_insufficient_data_is_explained(model_name: str, frames: dict[str, pd.DataFrame]) -> None:
    model_type = get_model_type(model_name)
    with pytest.raises(InsufficientDataError, match=rf"{model_name} needs .* spanning at least \d+ days"):
        model_type.check_sufficiency(frames["press-line-1"].iloc[: 5 * 24])
    frame = frames["press-line-1"]
    mostly_offline = pd.concat([frame.iloc[: 3 * 24], frame.iloc[-3 * 24 :]])  # 84 days, 6 of them reported
    expected = "50% of its 1-hour intervals filled; the window spans 84.0 days with 7% filled"
    with pytest.raises(InsufficientDataError, match=expected):
        model_type.check_sufficiency(mostly_offline)
    model_type.check_sufficiency(frames["press-line-1"])


@pytest.mark.parametrize("model_name", MODEL_TYPE_NAMES)
def test_rows_missing_a_used_driver_predict_nan(
    model_name: str, frames: dict[str, pd.DataFrame], fitted: dict[tuple[str, str], FittedModel]
) -> None:
    validation = frames["press-line-1"].iloc[TRAINING_DAYS * 24 :].copy()
    validation.iloc[3, validation.columns.get_loc("production_units")] = np.nan
    values = fitted[(model_name, "press-line-1")].predict(validation).value
    assert np.isnan(values[3]) and np.isfinite(np.delete(values, 3)).all()


def test_unknown_hyperparameter_is_rejected(frames: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(ValueError, match="no hyperparameter treshold"):
        get_model_type("anomaly").fit(frames["press-line-1"], {"treshold": 3})


def test_baseline_recovers_the_physics(frames: dict[str, pd.DataFrame]) -> None:
    # Hour-of-week bins separate Saturday's half shift from Sunday; coarser bins would let the
    # production slope absorb the weekend difference in shift load.
    press = get_model_type("baseline").fit(frames["press-line-1"], {"time_of_week": "hour_of_week"})
    slopes = press.driver_coefficients()  # type: ignore[attr-defined]
    assert slopes["production_units"] == pytest.approx(MACHINES["press-line-1"].kwh_per_unit, rel=0.05)
    assert slopes["hdd"] == pytest.approx(MACHINES["press-line-1"].heating_kwh_per_degree, rel=0.15)
    assert press.hyperparameters["heating_balance_c"] == pytest.approx(12.0, abs=1.0)


def test_anomaly_detector_finds_injected_events() -> None:
    frame = generate_readings(MACHINES["press-line-1"], "2024-02-05", 84, seed=11, anomaly_events=14)
    training, validation = frame.iloc[: TRAINING_DAYS * 24], frame.iloc[TRAINING_DAYS * 24 :]
    model = get_model_type("anomaly").fit(training)
    prediction = model.predict(validation)
    assert prediction.score is not None and prediction.flag is not None
    result = event_metrics(prediction.flag, validation["is_anomaly"].to_numpy(dtype=bool))
    assert result.true_events >= 2
    assert result.recall == 1.0 and result.precision is not None and result.precision >= 0.75
    clean = generate_readings(MACHINES["press-line-1"], "2024-02-05", 84, seed=12)
    false_alarms = model.predict(clean.iloc[TRAINING_DAYS * 24 :]).flag
    assert false_alarms is not None and false_alarms.mean() < 0.01


def test_arima_error_forecast_fades_and_handles_gaps(fitted: dict[tuple[str, str], FittedModel]) -> None:
    model = fitted[("forecast_arima", "press-line-1")]
    far_future = generate_readings(MACHINES["press-line-1"], "2024-09-01", 2, seed=3)
    regression_only = model.spec.matrix(far_future)[0] @ model.coefficients  # type: ignore[attr-defined]
    np.testing.assert_allclose(model.predict(far_future).value, regression_only)
    next_hours = generate_readings(MACHINES["press-line-1"], "2024-04-15", 1, seed=3)
    correction = model.predict(next_hours).value - model.spec.matrix(next_hours)[0] @ model.coefficients  # type: ignore[attr-defined]
    assert abs(correction[0]) > abs(correction[-1])


@pytest.mark.parametrize("machine", MACHINE_NAMES)
def test_prophet_point_forecast_is_prophets_own(
    machine: str, frames: dict[str, pd.DataFrame], fitted: dict[tuple[str, str], FittedModel]
) -> None:
    """Predictions are computed from Prophet's parameters without ``Prophet.predict``: the same values, and
    the stored artifact (training rows left out) still predicts them."""
    model = fitted[("forecast_prophet", machine)]
    assert isinstance(model, ProphetForecaster)
    validation = frames[machine].iloc[TRAINING_DAYS * 24 :]
    data = _prophet_frame(validation, model.spec)
    with _prophet_calls():
        expected = model.model.predict(data)["yhat"].to_numpy()
    np.testing.assert_allclose(model.predict(validation).value, expected, rtol=1e-12, atol=1e-9)
    artifact = model.to_bytes()
    assert len(artifact) < 100_000  # a year of training rows made it ~2.6 MB
    assert model.model.history is not None and len(model.model.history) == TRAINING_DAYS * 24  # fit left intact
    np.testing.assert_allclose(get_model_type("forecast_prophet").load(artifact).predict(validation).value, expected)


@pytest.mark.parametrize("model_name", MODEL_TYPE_NAMES)
def test_a_readings_prediction_depends_on_that_reading_alone(
    model_name: str, frames: dict[str, pd.DataFrame], fitted: dict[tuple[str, str], FittedModel]
) -> None:
    """What monitoring's memory of predictions relies on: predicting rows in parts gives the same values."""
    model = fitted[(model_name, "press-line-1")]
    validation = frames["press-line-1"].iloc[TRAINING_DAYS * 24 :]
    whole = model.predict(validation).value
    parts = np.concatenate([model.predict(validation.iloc[i : i + 37]).value for i in range(0, len(validation), 37)])
    np.testing.assert_allclose(parts, whole, rtol=1e-12, atol=1e-9)
