"""Data-quality detectors on generated readings: each fires on its fault and stays quiet on the control."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.ml.quality import IssueKind, QualityThresholds, faulty_readings, find_issues, open_gap
from app.ml.synthetic import DEMO_FLEET, generate_readings

PRESS, COMPRESSOR = DEMO_FLEET[0], DEMO_FLEET[2]


def _frame(profile=PRESS, days: int = 14, seed: int = 3) -> pd.DataFrame:
    return generate_readings(profile, "2025-11-01", days, seed=seed)


@pytest.mark.parametrize("profile", DEMO_FLEET, ids=lambda profile: profile.name)
def test_clean_readings_raise_nothing(profile) -> None:
    for seed in range(3):
        assert find_issues(_frame(profile, seed=seed)) == []


def test_a_silence_longer_than_the_policy_allows_is_a_gap_with_its_time_range() -> None:
    frame = _frame()
    missing = frame.index[100:110]  # ten hourly readings lost: 11 h between neighbours
    issues = find_issues(frame.drop(missing), QualityThresholds(gap_intervals=6))

    assert [(i.kind, i.start, i.end, i.value) for i in issues] == [
        (IssueKind.GAP, frame.index[99], frame.index[110], 11.0)
    ]
    assert "no readings for 11.0 h" in issues[0].describe()


def test_a_meter_silent_since_its_last_reading_is_an_open_gap_measured_on_the_data_clock() -> None:
    frame = _frame()
    last = frame.index[-1]

    silent = open_gap(frame.index, last + pd.Timedelta(hours=30), QualityThresholds(gap_intervals=6))

    assert silent is not None and silent.still_open and silent.kind is IssueKind.GAP
    assert (silent.start, silent.end, silent.value, silent.limit) == (last, last + pd.Timedelta(hours=30), 30.0, 6.0)
    assert silent.describe().startswith("no readings since") and silent.to_dict()["open"] is True


def test_a_meter_that_reported_within_the_allowance_has_no_open_gap() -> None:
    frame = _frame()
    assert open_gap(frame.index, frame.index[-1], QualityThresholds(gap_intervals=6)) is None  # the control
    assert open_gap(frame.index, frame.index[-1] + pd.Timedelta(hours=6)) is None
    daily = _frame(days=60).resample("D").sum().index
    assert open_gap(daily, daily[-1] + pd.Timedelta(days=2)) is None  # two days are nothing for a daily meter
    assert open_gap(daily, daily[-1] + pd.Timedelta(days=7)) is not None


def test_a_short_outage_within_the_allowance_is_not_a_gap() -> None:
    frame = _frame()
    assert find_issues(frame.drop(frame.index[100:104]), QualityThresholds(gap_intervals=6)) == []


def test_the_gap_allowance_follows_the_meters_cadence() -> None:
    daily = _frame(days=60).resample("D").sum()
    assert find_issues(daily) == []  # one reading a day is this meter's normal
    assert [issue.kind for issue in find_issues(daily.drop(daily.index[20:30]))] == [IssueKind.GAP]


def test_a_meter_repeating_its_last_value_for_two_days_is_stuck() -> None:
    frame = _frame()
    frame.iloc[200:248, frame.columns.get_loc("energy_kwh")] = frame["energy_kwh"].iloc[199]

    issues = find_issues(frame)

    assert [(i.kind, i.column, i.start, i.end) for i in issues] == [
        (IssueKind.STUCK, "energy_kwh", frame.index[199], frame.index[247])
    ]
    assert issues[0].value == 48.0


def test_the_readings_of_a_stuck_run_after_its_first_and_a_jumps_landing_are_faulty() -> None:
    frame = _frame()
    frame.iloc[200:248, frame.columns.get_loc("energy_kwh")] = frame["energy_kwh"].iloc[199]
    frame.iloc[150, frame.columns.get_loc("energy_kwh")] *= 10

    faulty = faulty_readings(frame, find_issues(frame))

    assert np.flatnonzero(faulty).tolist() == [150, *range(200, 248)]


def test_a_stuck_temperature_sensor_is_found_too() -> None:
    frame = _frame()
    frame.iloc[50:70, frame.columns.get_loc("outdoor_temp_c")] = 4.2

    assert [(i.kind, i.column) for i in find_issues(frame)] == [(IssueKind.STUCK, "outdoor_temp_c")]


def test_an_idle_machine_sitting_at_zero_is_not_stuck() -> None:
    frame = _frame(COMPRESSOR)
    idle = frame["production_units"].to_numpy() == 0
    frame.loc[idle, "energy_kwh"] = 0.0  # switched off outside its shifts: nights and Sundays at exactly 0

    assert find_issues(frame) == []


def test_a_reading_far_beyond_the_machines_usual_steps_is_a_jump() -> None:
    frame = _frame()
    frame.iloc[150, frame.columns.get_loc("energy_kwh")] *= 10  # a unit error: Wh read as daWh

    issues = find_issues(frame)

    assert {issue.kind for issue in issues} == {IssueKind.JUMP}
    assert issues[0].end == frame.index[150] and issues[0].value > issues[0].limit


def test_an_operator_confirmed_anomaly_is_consumption_not_a_jump() -> None:
    frame = _frame()
    frame.iloc[150, frame.columns.get_loc("energy_kwh")] *= 10
    frame.iloc[150, frame.columns.get_loc("is_anomaly")] = True  # confirmed: the press really drew that

    assert find_issues(frame) == []


def test_ordinary_shift_starts_and_an_equipment_change_are_not_jumps() -> None:
    frame = _frame()
    frame.loc[frame.index[200] :, "energy_kwh"] *= 0.9
    assert find_issues(frame) == []
    assert np.abs(np.diff(frame["energy_kwh"].to_numpy())).max() > 50  # the shift starts are large steps
