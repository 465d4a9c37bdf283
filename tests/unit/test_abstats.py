"""A/B decision statistics: decisions, error rates under repeated looks, routing, SRM and shadow tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from app.ml import abtest as abstats
from app.ml.abtest import (
    METHOD_CONFIDENCE_SEQUENCE,
    METHOD_DIEBOLD_MARIANO,
    METHOD_MANN_WHITNEY,
    METHOD_WELCH,
    METHOD_WILCOXON,
    REASON_IN_PROGRESS,
    REASON_INSUFFICIENT_SAMPLES,
    REASON_NO_DIFFERENCE,
    REASON_SAMPLE_RATIO_MISMATCH,
    REASON_WINNER,
    AbDecision,
    compare_shadow,
    decide,
    route_arm,
    route_arms,
    sample_ratio_p_value,
)
from app.ml.abtest.fixed import sample_skewness, welch_p_value
from app.ml.abtest.sequential import (
    confidence_sequence_p_value,
    default_planned_samples,
    mixture_rho_squared,
)

ALPHA = 0.05
RESULT_KEYS = {
    "samples_a",
    "samples_b",
    "mae_a",
    "mae_b",
    "rmse_a",
    "rmse_b",
    "method",
    "p_value",
    "confidence",
    "decided",
    "winner",
    "srm_p_value",
    "srm_detected",
    "reason",
}


def rate_bound(trials: int, rate: float = ALPHA) -> float:
    """Largest false-winner rate a correct level-``rate`` procedure shows in 99.9 % of simulations."""
    return float(stats.binom.ppf(0.999, trials, rate)) / trials


def half_normal(rng: np.random.Generator, size: int | tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    """Absolute errors of an unbiased model with normal residuals: skewness ~1, Welch territory."""
    return np.abs(rng.normal(0.0, scale, size))


def to_json(decision: AbDecision) -> str:
    return json.dumps(decision.as_dict(), allow_nan=False)


# --- fixed-horizon decisions -------------------------------------------------------------------


def test_clearly_better_b_wins_with_welch() -> None:
    rng = np.random.default_rng(7)
    decision = decide(
        half_normal(rng, 400),
        half_normal(rng, 400, scale=0.7),
        traffic_split=0.5,
        min_samples=100,
        significance=ALPHA,
        final=True,
    )
    assert decision.method == METHOD_WELCH
    assert decision.winner == "B" and decision.decided and decision.reason == REASON_WINNER
    assert decision.p_value is not None and decision.p_value < ALPHA
    assert decision.confidence == pytest.approx(1.0 - decision.p_value)
    assert decision.mae_b is not None and decision.mae_a is not None and decision.mae_b < decision.mae_a
    assert decision.rmse_b is not None and decision.rmse_a is not None and decision.rmse_b < decision.rmse_a


def test_heavy_tailed_errors_switch_to_mann_whitney_and_a_can_win() -> None:
    rng = np.random.default_rng(8)
    errors_a = rng.lognormal(0.0, 1.5, 300)
    errors_b = rng.lognormal(0.5, 1.5, 300)
    decision = decide(errors_a, errors_b, traffic_split=0.5, min_samples=100, significance=ALPHA, final=True)
    assert decision.method == METHOD_MANN_WHITNEY
    assert decision.winner == "A"
    assert decision.p_value is not None and decision.p_value < ALPHA


def test_signed_residuals_are_compared_by_their_absolute_values() -> None:
    rng = np.random.default_rng(9)
    residuals_a, residuals_b = rng.normal(0.0, 1.0, 400), rng.normal(0.0, 0.7, 400)
    signed = decide_final(residuals_a, residuals_b)
    assert signed == decide_final(np.abs(residuals_a), np.abs(residuals_b))
    assert signed.winner == "B"


def test_identical_versions_have_no_winner() -> None:
    rng = np.random.default_rng(10)
    same = decide_final(half_normal(rng, 500), half_normal(rng, 500))
    assert same.decided and same.winner is None and same.reason == REASON_NO_DIFFERENCE
    assert same.p_value is not None and same.p_value >= ALPHA
    errors = half_normal(rng, 300)
    exact = decide_final(errors, errors.copy())
    assert exact.p_value == pytest.approx(1.0) and exact.winner is None


def test_fixed_horizon_shows_interim_p_value_but_decides_only_at_the_end() -> None:
    rng = np.random.default_rng(11)
    errors_a, errors_b = half_normal(rng, 400), half_normal(rng, 400, scale=0.6)
    interim = decide(errors_a, errors_b, traffic_split=0.5, min_samples=100, significance=ALPHA, final=False)
    assert interim.p_value is not None and interim.p_value < ALPHA
    assert not interim.decided and interim.winner is None and interim.reason == REASON_IN_PROGRESS


def test_no_winner_below_min_samples_even_when_significant() -> None:
    rng = np.random.default_rng(12)
    decision = decide(
        half_normal(rng, 150),
        half_normal(rng, 150, 0.5),
        traffic_split=0.5,
        min_samples=200,
        significance=ALPHA,
        final=True,
    )
    assert decision.p_value is not None and decision.p_value < ALPHA
    assert decision.decided and decision.winner is None and decision.reason == REASON_INSUFFICIENT_SAMPLES


@pytest.mark.parametrize(
    ("distribution", "expected_method"),
    [("half_normal", METHOD_WELCH), ("lognormal", METHOD_MANN_WHITNEY)],
)
def test_fixed_horizon_false_winner_rate_in_aa_tests_stays_within_significance(
    distribution: str, expected_method: str
) -> None:
    """1,000 A/A tests through ``decide``: the false-winner rate is at most α plus sampling noise."""
    rng = np.random.default_rng(13)
    tests, per_arm = 1000, 200
    if distribution == "half_normal":
        errors = half_normal(rng, (tests, 2, per_arm))
    else:
        errors = rng.lognormal(0.0, 1.0, (tests, 2, per_arm))
    decisions = [decide_final(a, b) for a, b in errors]
    # Sample skewness varies from draw to draw, so a few lognormal samples pass the Welch rule.
    assert np.mean([decision.method == expected_method for decision in decisions]) >= 0.9
    false_winners = np.mean([decision.winner is not None for decision in decisions])
    assert false_winners <= rate_bound(tests)


# --- sequential decisions under repeated looks ----------------------------------------------------


@dataclass(frozen=True)
class LookSimulation:
    """Many simulated tests with Bernoulli routing, summarised at evenly spaced looks (vectorised)."""

    errors: np.ndarray  # (tests, stream length): absolute error of each matched prediction in time order
    to_b: np.ndarray  # (tests, stream length): routed to B
    look_ends: np.ndarray  # stream positions (exclusive) at which each look is taken
    eligible: np.ndarray  # (tests, looks): both arms have at least min_samples
    samples_a: np.ndarray  # (tests, looks), raised to 2 where fewer (such looks are never eligible)
    samples_b: np.ndarray
    mean_a: np.ndarray
    mean_b: np.ndarray
    variance_a: np.ndarray
    variance_b: np.ndarray

    def arms_at(self, test: int, look: int) -> tuple[np.ndarray, np.ndarray]:
        end = self.look_ends[look]
        errors, to_b = self.errors[test, :end], self.to_b[test, :end]
        return errors[~to_b], errors[to_b]


def simulate_looks(
    rng: np.random.Generator,
    *,
    tests: int,
    stream: int,
    looks: int,
    split: float,
    min_samples: int,
    b_scale: float = 1.0,
) -> LookSimulation:
    to_b = rng.random((tests, stream)) < split
    errors = half_normal(rng, (tests, stream)) * np.where(to_b, b_scale, 1.0)
    look_ends = np.linspace(stream / looks, stream, looks).astype(int)
    counts, summaries = [], []
    for in_arm in (~to_b, to_b):
        arm_errors = np.where(in_arm, errors, 0.0)
        count = np.cumsum(in_arm, axis=1)[:, look_ends - 1].astype(float)
        total = np.cumsum(arm_errors, axis=1)[:, look_ends - 1]
        squares = np.cumsum(arm_errors**2, axis=1)[:, look_ends - 1]
        safe_count = np.maximum(count, 2.0)
        mean = total / safe_count
        counts.append(count)
        summaries.append((safe_count, mean, (squares - safe_count * mean**2) / (safe_count - 1.0)))
    (samples_a, mean_a, variance_a), (samples_b, mean_b, variance_b) = summaries
    eligible = np.minimum(*counts) >= min_samples
    return LookSimulation(
        errors, to_b, look_ends, eligible, samples_a, samples_b, mean_a, mean_b, variance_a, variance_b
    )


def sequential_p_values(simulation: LookSimulation, *, min_samples: int, split: float) -> np.ndarray:
    rho_squared = mixture_rho_squared(ALPHA, default_planned_samples(min_samples, split))
    variance = simulation.variance_a / simulation.samples_a + simulation.variance_b / simulation.samples_b
    return confidence_sequence_p_value(
        simulation.mean_b - simulation.mean_a,
        variance,
        simulation.samples_a + simulation.samples_b,
        rho_squared,
    )


@pytest.mark.parametrize("looks", [20, 200])
def test_sequential_false_winner_rate_holds_under_repeated_looks_while_naive_peeking_fails(
    looks: int,
) -> None:
    """A/A tests looked at ``looks`` times, stopping at the first p < α.

    The confidence sequence stays within α; re-running the fixed-horizon Welch test at every look and
    stopping at the first significant one does not (~24 % at 20 looks), which is why it exists.
    """
    rng = np.random.default_rng(14)
    tests, min_samples, split = 1000, 50, 0.5
    simulation = simulate_looks(rng, tests=tests, stream=2000, looks=looks, split=split, min_samples=min_samples)
    can_decide = simulation.eligible
    sequential = sequential_p_values(simulation, min_samples=min_samples, split=split)
    naive = welch_p_value(
        simulation.mean_a,
        simulation.variance_a,
        simulation.samples_a,
        simulation.mean_b,
        simulation.variance_b,
        simulation.samples_b,
    )
    sequential_rate = np.mean(np.any(can_decide & (sequential < ALPHA), axis=1))
    naive_rate = np.mean(np.any(can_decide & (naive < ALPHA), axis=1))
    final_look_rate = np.mean(naive[:, -1] < ALPHA)
    assert sequential_rate <= rate_bound(tests)
    assert final_look_rate <= rate_bound(tests)
    assert naive_rate > 3 * ALPHA


def test_decide_matches_the_vectorised_sequential_statistic_at_every_look() -> None:
    """The simulation above exercises the same numbers ``decide`` produces for each look."""
    rng = np.random.default_rng(15)
    min_samples, split = 50, 0.3
    simulation = simulate_looks(rng, tests=6, stream=1500, looks=15, split=split, min_samples=min_samples, b_scale=0.85)
    p_values = sequential_p_values(simulation, min_samples=min_samples, split=split)
    can_decide = simulation.eligible
    for test in range(6):
        for look in range(15):
            errors_a, errors_b = simulation.arms_at(test, look)
            decision = decide(
                errors_a,
                errors_b,
                traffic_split=split,
                min_samples=min_samples,
                significance=ALPHA,
                final=False,
                sequential=True,
            )
            assert decision.method == METHOD_CONFIDENCE_SEQUENCE
            assert decision.p_value == pytest.approx(p_values[test, look], rel=1e-9, abs=1e-300)
            expected = bool(can_decide[test, look] and p_values[test, look] < ALPHA)
            assert decision.decided == expected
            assert (decision.winner == "B") == expected


def test_sequential_stops_early_for_a_clearly_better_version() -> None:
    rng = np.random.default_rng(16)
    min_samples, split, looks = 50, 0.5, 20
    simulation = simulate_looks(
        rng, tests=1, stream=4000, looks=looks, split=split, min_samples=min_samples, b_scale=0.7
    )
    first_decided = None
    for look in range(looks):
        errors_a, errors_b = simulation.arms_at(0, look)
        decision = decide(
            errors_a,
            errors_b,
            traffic_split=split,
            min_samples=min_samples,
            significance=ALPHA,
            final=False,
            sequential=True,
        )
        if decision.decided:
            first_decided = look
            break
    assert first_decided is not None and first_decided < looks // 2
    assert decision.winner == "B" and decision.reason == REASON_WINNER


def test_sequential_at_the_end_without_crossing_reports_no_difference() -> None:
    rng = np.random.default_rng(17)
    errors_a, errors_b = half_normal(rng, 300), half_normal(rng, 300)
    interim, final = (
        decide(
            errors_a,
            errors_b,
            traffic_split=0.5,
            min_samples=50,
            significance=ALPHA,
            final=end,
            sequential=True,
        )
        for end in (False, True)
    )
    assert not interim.decided and interim.reason == REASON_IN_PROGRESS
    assert final.decided and final.winner is None and final.reason == REASON_NO_DIFFERENCE


# --- routing and sample-ratio mismatch --------------------------------------------------------------


def test_routing_follows_the_split_and_is_deterministic() -> None:
    timestamps = pd.date_range("2024-01-01", periods=10_000, freq="h", tz="UTC")
    arms = route_arms("test-42", "machine-7", timestamps, 0.2)
    routed_to_b = int(np.sum(arms == "B"))
    tolerance = 4 * np.sqrt(10_000 * 0.2 * 0.8)
    assert abs(routed_to_b - 2000) <= tolerance
    assert np.array_equal(arms, route_arms("test-42", "machine-7", timestamps, 0.2))
    assert [route_arm("test-42", "machine-7", ts, 0.2) for ts in timestamps[:200]] == list(arms[:200])
    other_test = route_arms("test-43", "machine-7", timestamps, 0.2)
    assert 0 < np.sum(other_test != arms) < 10_000


def test_routing_depends_on_the_instant_not_its_time_zone() -> None:
    instant = datetime(2024, 6, 1, 12, 30, tzinfo=UTC)
    arms = {
        route_arm("t", "m", moment, 0.5)
        for moment in (
            instant,
            instant.astimezone(timezone(timedelta(hours=2))),
            instant.replace(tzinfo=None),
            pd.Timestamp(instant).tz_convert("America/New_York"),
        )
    }
    assert len(arms) == 1


def test_routing_rejects_degenerate_splits() -> None:
    for split in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="traffic_split"):
            route_arm("t", "m", datetime(2024, 1, 1, tzinfo=UTC), split)


def test_sample_ratio_mismatch_is_flagged_and_suppresses_the_winner() -> None:
    mismatch = sample_ratio_p_value(6000, 4000, 0.5)
    assert mismatch is not None and mismatch < 1e-10
    assert sample_ratio_p_value(8000, 2000, 0.2) == pytest.approx(1.0)
    assert sample_ratio_p_value(0, 0, 0.5) is None
    rng = np.random.default_rng(18)
    for sequential in (False, True):
        decision = decide(
            half_normal(rng, 6000),
            half_normal(rng, 4000, 0.7),
            traffic_split=0.5,
            min_samples=100,
            significance=ALPHA,
            final=True,
            sequential=sequential,
        )
        assert decision.p_value is not None and decision.p_value < ALPHA
        assert decision.srm_detected and decision.srm_p_value is not None and decision.srm_p_value < 0.001
        assert decision.winner is None and decision.reason == REASON_SAMPLE_RATIO_MISMATCH
    balanced = decide(
        half_normal(rng, 7950),
        half_normal(rng, 2050, 0.7),
        traffic_split=0.2,
        min_samples=100,
        significance=ALPHA,
        final=True,
    )
    assert not balanced.srm_detected and balanced.winner == "B"


# --- shadow comparison ----------------------------------------------------------------------------


def shadow_errors(rng: np.random.Generator, size: int, improvement: float) -> tuple[np.ndarray, np.ndarray]:
    """Residuals of two models on the same readings: a large shared part (the load) plus own noise."""
    shared = rng.normal(0.0, 3.0, size)
    return shared + rng.normal(0.0, 0.5, size), shared * (1.0 - improvement) + rng.normal(0.0, 0.5, size)


@pytest.mark.parametrize(
    ("method", "expected"), [("diebold_mariano", METHOD_DIEBOLD_MARIANO), ("wilcoxon", METHOD_WILCOXON)]
)
def test_shadow_comparison_detects_a_better_model_and_not_an_identical_one(method: str, expected: str) -> None:
    rng = np.random.default_rng(19)
    errors_a, errors_b = shadow_errors(rng, 400, improvement=0.1)
    better = compare_shadow(errors_a, errors_b, significance=ALPHA, min_samples=50, method=method)  # type: ignore[arg-type]
    assert better.method == expected and better.winner == "B" and better.decided
    assert better.p_value is not None and better.p_value < ALPHA
    assert better.srm_p_value is None and not better.srm_detected
    swapped = compare_shadow(errors_b, errors_a, significance=ALPHA, min_samples=50, method=method)  # type: ignore[arg-type]
    assert swapped.winner == "A"
    identical = compare_shadow(errors_a, errors_a.copy(), significance=ALPHA, min_samples=50, method=method)  # type: ignore[arg-type]
    assert identical.winner is None and identical.p_value == pytest.approx(1.0)
    assert identical.reason == REASON_NO_DIFFERENCE


def test_paired_shadow_test_beats_an_ab_split_of_the_same_readings() -> None:
    """Why shadow mode exists: a 5 % improvement invisible to a two-sample test is clear when paired."""
    rng = np.random.default_rng(20)
    errors_a, errors_b = shadow_errors(rng, 400, improvement=0.05)
    paired = compare_shadow(errors_a, errors_b, significance=ALPHA, min_samples=50)
    split = decide_final(errors_a[:200], errors_b[200:])
    assert paired.winner == "B"
    assert split.winner is None


def test_diebold_mariano_size_with_autocorrelated_errors() -> None:
    """Equal-accuracy models with AR(1) errors: HAC keeps DM near α; Wilcoxon (independence) does not."""
    rng = np.random.default_rng(21)
    sims, size, phi = 400, 1000, 0.8
    innovations = rng.normal(0.0, 1.0, (3, sims, size))
    series = np.empty_like(innovations)
    series[..., 0] = innovations[..., 0] / np.sqrt(1.0 - phi**2)
    for step in range(1, size):
        series[..., step] = phi * series[..., step - 1] + innovations[..., step]
    errors_a, errors_b = series[0] + 0.5 * series[1], series[0] + 0.5 * series[2]
    dm_rate = np.mean(
        [
            compare_shadow(a, b, significance=ALPHA, min_samples=50).winner is not None
            for a, b in zip(errors_a, errors_b, strict=True)
        ]
    )
    wilcoxon_rate = np.mean(
        [
            compare_shadow(a, b, significance=ALPHA, min_samples=50, method="wilcoxon").winner is not None
            for a, b in zip(errors_a, errors_b, strict=True)
        ]
    )
    assert dm_rate <= rate_bound(sims, 2 * ALPHA)
    assert wilcoxon_rate > rate_bound(sims, 2 * ALPHA)


# --- edge cases and validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errors_a", "errors_b"),
    [
        ([], []),
        ([1.5], []),
        ([1.5], [0.5]),
        ([2.0] * 60, [2.0] * 60),
        ([0.0] * 60, [0.0] * 60),
        ([3.0] * 60, [1.0] * 60),
        ([1.0, 2.0], [1.0, 2.0]),
    ],
)
@pytest.mark.parametrize(("final", "sequential"), [(False, False), (True, False), (False, True), (True, True)])
def test_degenerate_inputs_give_json_safe_results(
    errors_a: list[float], errors_b: list[float], final: bool, sequential: bool
) -> None:
    decision = decide(
        errors_a,
        errors_b,
        traffic_split=0.5,
        min_samples=2,
        significance=ALPHA,
        final=final,
        sequential=sequential,
    )
    payload = json.loads(to_json(decision))
    assert set(payload) == RESULT_KEYS
    assert payload["samples_a"] == len(errors_a) and payload["samples_b"] == len(errors_b)
    if decision.p_value is not None:
        assert 0.0 <= decision.p_value <= 1.0
    if min(len(errors_a), len(errors_b)) < 2:
        assert decision.winner is None and decision.reason in (
            REASON_INSUFFICIENT_SAMPLES,
            REASON_SAMPLE_RATIO_MISMATCH,
        )


def test_constant_but_different_errors_are_an_exact_difference() -> None:
    decision = decide_final([3.0] * 60, [1.0] * 60, min_samples=50)
    assert decision.p_value == 0.0 and decision.confidence == 1.0 and decision.winner == "B"


def test_shadow_degenerate_inputs_give_json_safe_results() -> None:
    for errors in ([], [1.0], [2.0] * 30):
        for method in ("diebold_mariano", "wilcoxon"):
            decision = compare_shadow(errors, errors, significance=ALPHA, min_samples=2, method=method)  # type: ignore[arg-type]
            assert decision.winner is None
            json.loads(to_json(decision))


def test_as_dict_replaces_non_finite_numbers_with_none() -> None:
    decision = AbDecision(
        samples_a=0,
        samples_b=0,
        mae_a=float("nan"),
        mae_b=float("inf"),
        rmse_a=None,
        rmse_b=None,
        method=METHOD_WELCH,
        p_value=float("nan"),
        confidence=None,
        decided=False,
        winner=None,
        srm_p_value=None,
        srm_detected=False,
        reason=REASON_INSUFFICIENT_SAMPLES,
    )
    assert decision.as_dict()["mae_a"] is None and decision.as_dict()["mae_b"] is None
    json.loads(to_json(decision))


@settings(max_examples=150, deadline=None)
@given(
    errors_a=st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=40),
    errors_b=st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=40),
    final=st.booleans(),
    sequential=st.booleans(),
)
def test_any_finite_errors_give_a_consistent_json_safe_decision(
    errors_a: list[float], errors_b: list[float], final: bool, sequential: bool
) -> None:
    decision = decide(
        errors_a,
        errors_b,
        traffic_split=0.5,
        min_samples=5,
        significance=ALPHA,
        final=final,
        sequential=sequential,
    )
    json.loads(to_json(decision))
    assert decision.winner is None or (decision.decided and decision.reason == REASON_WINNER)
    assert decision.confidence is None or 0.0 <= decision.confidence <= 1.0
    assert decision.decided or not final


@settings(max_examples=150, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.integers(-20, 20), st.integers(-20, 20)),  # integers: many ties and zero differences
        max_size=60,
    ),
    method=st.sampled_from(["diebold_mariano", "wilcoxon"]),
)
def test_any_paired_errors_give_a_consistent_json_safe_shadow_decision(
    pairs: list[tuple[int, int]], method: str
) -> None:
    errors_a = [float(a) for a, _ in pairs]
    errors_b = [float(b) for _, b in pairs]
    decision = compare_shadow(errors_a, errors_b, significance=ALPHA, min_samples=5, method=method)  # type: ignore[arg-type]
    json.loads(to_json(decision))
    assert decision.decided
    if decision.winner == "B":
        assert decision.mae_b is not None and decision.mae_a is not None
        assert decision.method == METHOD_WILCOXON or decision.mae_b < decision.mae_a


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"traffic_split": 0.0}, "traffic_split"),
        ({"traffic_split": 1.0}, "traffic_split"),
        ({"significance": 0.0}, "significance"),
        ({"significance": 0.6}, "significance"),
        ({"min_samples": 1}, "min_samples"),
        ({"min_samples": 10.5}, "min_samples"),
        ({"errors_a": [1.0, float("nan")]}, "errors_a contains NaN"),
        ({"errors_b": [[1.0, 2.0]]}, "errors_b must be a one-dimensional array"),
        ({"sequential": True, "planned_samples": 0}, "planned_samples"),
    ],
)
def test_invalid_inputs_raise_clear_errors(overrides: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "errors_a": [1.0, 2.0],
        "errors_b": [1.0, 2.0],
        "traffic_split": 0.5,
        "min_samples": 2,
        "significance": ALPHA,
        "final": True,
    }
    arguments.update(overrides)
    with pytest.raises(ValueError, match=message):
        decide(**arguments)  # type: ignore[arg-type]


def test_shadow_rejects_unpaired_inputs_and_unknown_methods() -> None:
    with pytest.raises(ValueError, match="same readings"):
        compare_shadow([1.0, 2.0], [1.0], significance=ALPHA, min_samples=2)
    with pytest.raises(ValueError, match="method must be"):
        compare_shadow([1.0, 2.0], [1.0, 2.0], significance=ALPHA, min_samples=2, method="t")  # type: ignore[arg-type]


def test_public_names_are_exported() -> None:
    for name in abstats.__all__:
        assert hasattr(abstats, name), name


def decide_final(
    errors_a: np.ndarray | list[float], errors_b: np.ndarray | list[float], min_samples: int = 100
) -> AbDecision:
    """A fixed-horizon test at its end with an even split, the most common configuration."""
    return decide(errors_a, errors_b, traffic_split=0.5, min_samples=min_samples, significance=ALPHA, final=True)


def test_skewness_of_a_subnormal_spread_is_finite() -> None:
    """m2 > 0 but m2**1.5 underflows to zero: found by the property test above."""
    assert sample_skewness(np.array([0.0, 0.0, 1.3e-160])) == 0.0
