"""Reference profiles and the data-drift verdict: right at every sample size, bounded, JSON-safe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.ml import drift
from app.ml.drift import (
    DataDriftThresholds,
    DriftMethod,
    FeatureProfile,
    Severity,
    build_reference_profile,
    compare_arrays,
    compare_to_profile,
    read_reference_profile,
    window_verdict,
)
from app.ml.drift.statistics import ks_critical_value


def test_public_names_exist() -> None:
    for name in drift.__all__:
        assert hasattr(drift, name), name


def _energy_drivers(rng: np.random.Generator, hours: int, temperature_shift: float = 0.0) -> dict[str, np.ndarray]:
    """Hourly outdoor temperature with a daily cycle, and production that is zero when the plant idles."""
    hour = np.arange(hours)
    temperature = 10.0 + temperature_shift + 4.0 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 3.0, hours)
    production = np.where(rng.random(hours) < 0.25, 0.0, rng.gamma(9.0, 6.0, hours))
    return {"outdoor_temp_c": temperature, "production_units": production}


def test_same_distribution_is_not_drift_at_one_million_rows() -> None:
    rng = np.random.default_rng(1)
    profile = build_reference_profile({"x": rng.normal(50, 10, 1_000_000)})
    report = compare_to_profile(profile, {"x": rng.normal(50, 10, 1_000_000)})
    assert not report.detected
    assert report.severity is Severity.NONE
    assert report.features[0].severity is Severity.NONE

    exact = compare_arrays(rng.normal(50, 10, 1_000_000), rng.normal(50, 10, 1_000_000))
    assert not exact.drifted


def test_significant_but_immaterial_change_is_not_drift_at_large_n() -> None:
    """At a million rows a 0.02 SD shift is wildly significant; a p-value rule alone would flag it."""
    rng = np.random.default_rng(2)
    result = compare_arrays(rng.normal(0, 1, 1_000_000), rng.normal(0.02, 1, 1_000_000))
    assert result.ks_p_value < 1e-10
    assert not result.drifted
    assert result.method in {DriftMethod.PSI, DriftMethod.WASSERSTEIN}
    assert result.statistic < result.threshold


@pytest.mark.parametrize("seed", range(10))
def test_quarter_sd_shift_is_caught_at_two_thousand_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    training = rng.normal(100, 20, 50_000)
    current = rng.normal(105, 20, 2_000)
    report = compare_to_profile(build_reference_profile({"load": training}), {"load": current})
    assert report.detected
    assert report.features[0].drifted
    assert compare_arrays(rng.normal(100, 20, 2_000), current).drifted


def test_false_alarm_rate_of_small_windows_stays_below_alpha() -> None:
    """Small windows have noisy, upward-biased PSI and Wasserstein; the KS gate keeps the verdict honest."""
    rng = np.random.default_rng(3)
    profile = build_reference_profile(_energy_drivers(rng, 8760))
    alarms = 0
    trials = 300
    for _ in range(trials):
        window = _energy_drivers(rng, int(rng.integers(24, 400)))
        alarms += compare_to_profile(profile, window).detected
    assert alarms / trials <= 0.06


def test_weather_inside_the_training_range_is_info_and_beyond_it_a_warning() -> None:
    rng = np.random.default_rng(4)
    profile = build_reference_profile(_energy_drivers(rng, 8760))
    warm_month = compare_to_profile(profile, _energy_drivers(rng, 24 * 30, temperature_shift=6.0))
    heat_wave = compare_to_profile(profile, _energy_drivers(rng, 24 * 30, temperature_shift=15.0))

    warm = {result.feature: result for result in warm_month.features}
    assert warm["outdoor_temp_c"].severity is Severity.INFO and not warm["outdoor_temp_c"].drifted
    assert "the model has seen" in warm["outdoor_temp_c"].explanation
    assert not warm["production_units"].drifted and not warm_month.detected
    assert warm_month.drift_score == pytest.approx(warm["outdoor_temp_c"].psi)
    hot = {result.feature: result for result in heat_wave.features}["outdoor_temp_c"]
    assert hot.drifted and hot.method is DriftMethod.ENVELOPE and hot.envelope_share > 0.2
    assert f"{hot.envelope_share:.0%} of readings outside the training range" in hot.explanation
    assert heat_wave.detected and heat_wave.severity is Severity.WARNING


def test_a_driver_change_without_a_model_keeps_the_distribution_rule() -> None:
    rng = np.random.default_rng(4)
    profile = build_reference_profile(_energy_drivers(rng, 8760))
    busier = _energy_drivers(rng, 24 * 30)
    busier["production_units"] = busier["production_units"] * 1.3
    result = {r.feature: r for r in compare_to_profile(profile, busier).features}["production_units"]
    assert result.drifted and result.impact is None


def test_large_shift_is_critical_and_reports_its_deciding_statistic() -> None:
    rng = np.random.default_rng(5)
    result = compare_arrays(rng.normal(0, 1, 5_000), rng.normal(1.0, 1, 5_000))
    assert result.severity is Severity.CRITICAL
    assert result.method in {DriftMethod.PSI, DriftMethod.WASSERSTEIN}
    assert result.statistic >= result.threshold
    assert result.p_value is None
    assert result.wasserstein_normalised == pytest.approx(1.0, abs=0.1)
    assert result.psi > 0.25


def test_values_outside_the_training_envelope_warn_even_without_a_significant_test() -> None:
    rng = np.random.default_rng(6)
    reference = rng.normal(20, 2, 10_000)
    current = rng.normal(20, 2, 200)
    current[:4] = 60.0  # 2 % far beyond max + 3 SD: the model would extrapolate there
    result = compare_arrays(reference, current)
    assert result.ks_p_value > 0.05
    assert result.method is DriftMethod.ENVELOPE
    assert result.envelope_share == pytest.approx(0.02)
    assert result.drifted and result.severity is Severity.WARNING


def test_no_drift_names_the_test_that_decided() -> None:
    rng = np.random.default_rng(7)
    result = compare_arrays(rng.normal(0, 1, 300), rng.normal(0, 1, 300))
    assert result.method is DriftMethod.KS
    assert result.p_value == result.ks_p_value
    assert result.threshold == result.ks_critical_value
    assert (result.statistic > result.threshold) == (result.p_value < 0.05)


def test_report_divides_alpha_among_its_features() -> None:
    rng = np.random.default_rng(8)
    columns = {f"f{index}": rng.normal(0, 1, 4_000) for index in range(5)}
    report = compare_to_profile(build_reference_profile(columns), {name: rng.normal(0, 1, 1_000) for name in columns})
    for result in report.features:
        assert result.ks_critical_value == pytest.approx(ks_critical_value(0.05 / 5, 4_000 * 1_000 / 5_000))


def test_profile_is_json_round_trippable_and_gives_the_same_report() -> None:
    rng = np.random.default_rng(9)
    training = _energy_drivers(rng, 50_000)
    profile = build_reference_profile(training)
    text = json.dumps(profile, allow_nan=False)
    restored = json.loads(text)
    assert restored == profile
    window = _energy_drivers(rng, 2_000, temperature_shift=1.0)
    assert compare_to_profile(restored, window) == compare_to_profile(profile, window)
    json.dumps(compare_to_profile(restored, window).to_dict(), allow_nan=False)


def test_profile_size_is_bounded_whatever_the_training_size() -> None:
    rng = np.random.default_rng(10)
    sizes = {}
    for rows in (20_000, 2_000_000):
        profile = build_reference_profile({"x": rng.normal(0, 1, rows)})
        sizes[rows] = len(json.dumps(profile))
        assert read_reference_profile(profile)["x"].count == rows
    assert sizes[2_000_000] < 30_000
    assert sizes[2_000_000] < 1.1 * sizes[20_000]


def test_small_training_set_is_kept_whole_so_the_profile_path_is_exact() -> None:
    rng = np.random.default_rng(11)
    reference, current = rng.normal(0, 1, 700), rng.normal(0.2, 1, 900)
    parsed = read_reference_profile(build_reference_profile({"x": reference}))["x"]
    assert parsed.is_exact
    from_profile = compare_to_profile(build_reference_profile({"x": reference}), {"x": current}).features[0]
    exact = compare_arrays(reference, current, feature="x")
    assert from_profile.ks_statistic == exact.ks_statistic
    assert from_profile.wasserstein == pytest.approx(exact.wasserstein, rel=1e-12)


def test_missing_values_are_dropped_and_empty_features_skipped() -> None:
    rng = np.random.default_rng(12)
    reference = rng.normal(0, 1, 5_000)
    reference[::10] = np.nan
    profile = build_reference_profile({"x": reference, "never_reported": np.full(100, np.nan)})
    assert set(profile["features"]) == {"x"}
    assert profile["features"]["x"]["count"] == 4_500

    current = rng.normal(0, 1, 1_000)
    current[:100] = np.nan
    report = compare_to_profile(profile, {"x": current, "extra": current})
    assert report.features[0].current_count == 900
    assert report.skipped == ("extra",)
    no_data = compare_to_profile(profile, {"x": np.full(10, np.nan)})
    assert no_data.features == () and no_data.skipped == ("x",) and not no_data.detected
    with pytest.raises(ValueError):
        compare_arrays([np.nan], [1.0])


def test_constant_features_need_no_division_by_zero() -> None:
    """Run under filterwarnings=error: any divide-by-zero or invalid-value warning fails the test."""
    constant = np.full(1_000, 5.0)
    unchanged = compare_arrays(constant, np.full(200, 5.0))
    assert not unchanged.drifted
    assert unchanged.wasserstein_normalised == 0.0 and unchanged.psi == 0.0

    moved = compare_arrays(constant, np.full(200, 7.0))
    assert moved.drifted and moved.severity is Severity.CRITICAL
    assert moved.envelope_share == 1.0
    assert np.isfinite(moved.wasserstein_normalised)

    rng = np.random.default_rng(13)
    profile = build_reference_profile({"idle": np.zeros(500), "varying": rng.normal(0, 1, 500)})
    report = compare_to_profile(profile, {"idle": np.zeros(50), "varying": rng.normal(0, 1, 50)})
    assert not report.detected
    json.dumps(report.to_dict(), allow_nan=False)


def test_stored_profile_is_validated() -> None:
    profile = build_reference_profile({"x": np.arange(100.0)})
    with pytest.raises(ValueError, match="version"):
        read_reference_profile({**profile, "version": 99})
    broken = json.loads(json.dumps(profile))
    broken["features"]["x"]["bin_counts"][0] += 1
    with pytest.raises(ValueError, match="inconsistent"):
        read_reference_profile(broken)
    with pytest.raises(ValueError):
        FeatureProfile.from_sorted(np.array([]))


def test_thresholds_come_from_the_policy_and_are_validated() -> None:
    rng = np.random.default_rng(14)
    reference, current = rng.normal(0, 1, 20_000), rng.normal(0.15, 1, 20_000)
    assert compare_arrays(reference, current).drifted
    lenient = DataDriftThresholds(wasserstein_threshold=0.3, wasserstein_critical=0.6)
    assert not compare_arrays(reference, current, lenient).drifted
    with pytest.raises(ValueError):
        DataDriftThresholds(psi_warning=0.3, psi_critical=0.2)
    with pytest.raises(ValueError):
        DataDriftThresholds(ks_alpha=0.0)


def test_a_windows_verdict_is_its_most_severe_feature_and_reads_reports_stored_before_severities() -> None:
    info = {"feature": "outdoor_temp_c", "method": "psi", "statistic": 3.1, "threshold": 0.1, "severity": "info"}
    info |= {"role": "weather", "support_low": -8.0, "support_high": 31.0, "impact": None}
    envelope = {"feature": "production_units", "method": "envelope", "statistic": 0.2, "threshold": 0.01}
    envelope |= {"severity": "warning", "role": "driver"}
    legacy = {"feature": "production_units", "method": "psi", "statistic": 0.3, "threshold": 0.25, "drifted": True}

    assert window_verdict([])["severity"] == "none"
    seasonal = window_verdict([info])
    assert (seasonal["severity"], seasonal["raises_alert"]) == ("info", False)  # a PSI of 3.1, and no alert
    assert seasonal["meaning"] == "outdoor_temp_c changed, within its training range (-8 … 31)"
    assert window_verdict([info, envelope]) | {"meaning": ""} == {
        "severity": "warning",
        "feature": "production_units",
        "method": "envelope",
        "raises_alert": True,
        "meaning": "",
    }
    assert window_verdict([legacy])["severity"] == "critical"  # stored before severities: drifted was alerted
