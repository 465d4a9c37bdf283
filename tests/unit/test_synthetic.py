"""The generator produces the layout models expect and the structure tests rely on."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from app.ml.model_types.base import READING_COLUMNS
from app.ml.synthetic import (
    DEMO_FLEET,
    LevelShift,
    MachineProfile,
    TemperatureShift,
    generate_fleet,
    generate_readings,
)

PRESS = DEMO_FLEET[0]


def test_layout_matches_the_model_interface() -> None:
    frame = generate_readings(PRESS, "2024-01-01", days=14)
    assert tuple(frame.columns) == READING_COLUMNS
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "ts"
    assert str(frame.index.tz) == "UTC" and frame.index.is_monotonic_increasing and frame.index.is_unique
    assert len(frame) == 14 * 24
    assert frame["is_anomaly"].dtype == "boolean" and not frame["is_anomaly"].any()
    assert (frame["energy_kwh"] >= 0).all()


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    first = generate_readings(PRESS, days=7, seed=3, anomaly_events=2)
    pd.testing.assert_frame_equal(first, generate_readings(PRESS, days=7, seed=3, anomaly_events=2))
    assert not first["energy_kwh"].equals(generate_readings(PRESS, days=7, seed=4)["energy_kwh"])


def test_unreported_drivers_are_all_nan() -> None:
    fleet = {profile.name: profile for profile in DEMO_FLEET}
    building = generate_readings(fleet["office-building"], days=7)
    compressor = generate_readings(fleet["compressor-3"], days=7)
    assert building["production_units"].isna().all() and building["outdoor_temp_c"].notna().all()
    assert compressor["outdoor_temp_c"].isna().all() and compressor["production_units"].notna().all()


def test_schedule_weekends_and_holidays() -> None:
    profile = MachineProfile("two-shift", base_load_kwh=5.0, shifts=2, units_per_hour=100.0, kwh_per_unit=1.0)
    frame = generate_readings(profile, "2024-04-29", days=7)  # Mon 29 Apr .. Sun 5 May, 1 May a holiday
    production = frame["production_units"]
    assert production.between_time("06:00", "21:00").loc["2024-04-29"].gt(0).all()
    assert production.between_time("22:00", "05:00").eq(0).all()
    assert production.loc["2024-05-01"].eq(0).all()
    assert production.loc["2024-05-04":"2024-05-05"].eq(0).all()


def test_energy_follows_the_profile_physics() -> None:
    profile = MachineProfile(
        "pure",
        base_load_kwh=10.0,
        shifts=3,
        units_per_hour=50.0,
        kwh_per_unit=2.0,
        heating_balance_c=15.0,
        heating_kwh_per_degree=3.0,
        noise_fraction=0.0,
    )
    frame = generate_readings(profile, days=30)
    expected = 10.0 + 2.0 * frame["production_units"] + 3.0 * np.maximum(15.0 - frame["outdoor_temp_c"], 0.0)
    np.testing.assert_allclose(frame["energy_kwh"], expected)


def test_anomalies_are_labelled_short_events() -> None:
    frame = generate_readings(PRESS, days=60, seed=1, anomaly_events=6)
    labels = frame["is_anomaly"].to_numpy(dtype=bool)
    starts = np.flatnonzero(np.diff(np.concatenate(([0], labels.astype(int)))) == 1)
    ends = np.flatnonzero(np.diff(np.concatenate((labels.astype(int), [0]))) == -1)
    assert len(starts) == 6
    assert ((ends - starts + 1) >= 2).all() and ((ends - starts + 1) <= 6).all()
    clean = generate_readings(PRESS, days=60, seed=1)
    deviation = (frame["energy_kwh"] - clean["energy_kwh"]).abs()
    assert deviation[labels].min() > 5 * clean["energy_kwh"].diff().abs().median()
    unlabelled = generate_readings(PRESS, days=60, seed=1, anomaly_events=6, labelled=False)
    assert unlabelled["is_anomaly"].isna().all()


def test_level_and_temperature_shifts_start_at_the_given_time() -> None:
    at = pd.Timestamp("2024-01-20", tz="UTC")
    clean = generate_readings(PRESS, days=30, seed=2)
    shifted = generate_readings(PRESS, days=30, seed=2, level_shift=LevelShift(at, -0.1))
    ratio = shifted["energy_kwh"] / clean["energy_kwh"]
    np.testing.assert_allclose(ratio[ratio.index < at], 1.0)
    np.testing.assert_allclose(ratio[ratio.index >= at], 0.9)
    warmer = generate_readings(PRESS, days=30, seed=2, temperature_shift=TemperatureShift(at, 5.0))
    offset = warmer["outdoor_temp_c"] - clean["outdoor_temp_c"]
    assert offset[offset.index < at].abs().max() == 0 and np.allclose(offset[offset.index >= at], 5.0)


def test_a_year_for_the_whole_fleet_is_fast() -> None:
    started = time.perf_counter()
    fleet = generate_fleet(days=365, anomaly_events=10)
    assert time.perf_counter() - started < 1.0
    assert len(fleet) == 6 and all(len(frame) == 8760 for frame in fleet.values())
