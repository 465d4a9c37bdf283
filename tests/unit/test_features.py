"""Driver engineering: which drivers, which balance points, which calendar columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.ml.features import (
    DesignSpec,
    build_spec,
    choose_time_of_week,
    degree_hours,
    fit_balance_points,
    fourier_terms,
    infer_step,
    reported_drivers,
)
from app.ml.synthetic import DEMO_FLEET, MachineProfile, generate_readings


def _profile(**overrides: object) -> MachineProfile:
    settings: dict[str, object] = {
        "name": "test",
        "base_load_kwh": 20.0,
        "shifts": 2,
        "shift_load_kwh": 10.0,
        "units_per_hour": 50.0,
        "kwh_per_unit": 0.5,
    }
    return MachineProfile(**{**settings, **overrides})  # type: ignore[arg-type]


def test_degree_hours() -> None:
    temperature = np.array([5.0, 15.0, 25.0])
    columns = degree_hours(temperature, 12.0, 20.0)
    np.testing.assert_allclose(columns["hdd"], [7.0, 0.0, 0.0])
    np.testing.assert_allclose(columns["cdd"], [0.0, 0.0, 5.0])
    assert degree_hours(temperature, None, None) == {}


@pytest.mark.parametrize(
    ("heating", "cooling"), [(15.0, None), (None, 18.0), (14.0, 21.0)], ids=["heating", "cooling", "both"]
)
def test_balance_points_are_recovered_from_data_with_known_ones(heating: float | None, cooling: float | None) -> None:
    profile = _profile(
        heating_balance_c=heating, heating_kwh_per_degree=3.0, cooling_balance_c=cooling, cooling_kwh_per_degree=4.0
    )
    frame = generate_readings(profile, "2024-03-01", days=120, seed=5)  # spring into summer: both sides seen
    spec = build_spec(frame)
    if heating is None:
        assert spec.heating_balance_c is None
    else:
        assert spec.heating_balance_c == pytest.approx(heating, abs=1.0)
    if cooling is None:
        assert spec.cooling_balance_c is None
    else:
        assert spec.cooling_balance_c == pytest.approx(cooling, abs=1.0)


def test_no_weather_term_when_energy_ignores_temperature() -> None:
    frame = generate_readings(_profile(), "2024-03-01", days=90, seed=6)
    assert build_spec(frame).drivers == ("production_units",)
    rng = np.random.default_rng(0)
    temperature = rng.uniform(-5, 30, 2000)
    heating, cooling = fit_balance_points(temperature, rng.normal(50, 2, 2000), np.ones((2000, 1)))
    assert heating is None and cooling is None


def test_unreported_or_constant_drivers_are_left_out() -> None:
    building = generate_readings(DEMO_FLEET[3], days=30)
    assert reported_drivers(building) == ["outdoor_temp_c"]
    compressor = generate_readings(DEMO_FLEET[2], days=30)
    compressor["production_units"] = compressor["production_units"].where(compressor.index.day > 20)
    assert reported_drivers(compressor) == []  # two thirds missing: not a driver this meter reports


def test_time_of_week_resolution_grows_with_the_window() -> None:
    def hourly(days: int) -> pd.DatetimeIndex:
        return pd.date_range("2024-01-01", periods=days * 24, freq="h", tz="UTC")

    assert choose_time_of_week(hourly(7)) == "none"
    assert choose_time_of_week(hourly(14)) == "hour_of_day"
    assert choose_time_of_week(hourly(60)) == "day_type_hour"
    assert choose_time_of_week(hourly(90)) == "hour_of_week"
    assert choose_time_of_week(pd.date_range("2024-01-01", periods=120, freq="D", tz="UTC")) == "day_of_week"
    assert infer_step(hourly(2)) == pd.Timedelta(hours=1)


def test_fourier_terms_are_in_phase_across_windows() -> None:
    index = pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC")
    later = index[24:]
    full, part = fourier_terms(index, 24, 2), fourier_terms(later, 24, 2)
    assert set(full) == {"sin_24h_1", "cos_24h_1", "sin_24h_2", "cos_24h_2"}
    np.testing.assert_allclose(full["sin_24h_1"][24:], part["sin_24h_1"], atol=1e-9)
    np.testing.assert_allclose(full["sin_24h_1"][:24], full["sin_24h_1"][24:], atol=1e-9)


def test_design_matrix_columns_and_round_trip() -> None:
    frame = generate_readings(DEMO_FLEET[0], days=60, seed=1)
    spec = DesignSpec(("production_units", "outdoor_temp_c"), 12.0, None, "day_type_hour", 2, 1)
    matrix, names = spec.matrix(frame)
    assert names[:3] == ["intercept", "production_units", "hdd"]
    assert matrix.shape == (len(frame), 3 + 47 + 4 + 2)
    assert DesignSpec.from_dict(spec.to_dict()) == spec
    one_row, _ = spec.matrix(frame.iloc[[100]])  # a single live reading gets the same columns
    np.testing.assert_allclose(one_row, matrix[[100]])
    frame.loc[frame.index[5], "production_units"] = np.nan
    assert np.isnan(spec.matrix(frame)[0][5]).any()
