"""The shared vocabulary of A/B results: method and reason names, input checks and the decision record.

Every comparison (fixed-horizon, sequential, shadow) ends in the same ``AbDecision`` so that the
service stores one JSON shape in ``model_ab_tests.results`` and the API maps one type, whatever
statistics produced it. The rules that turn a p-value into a winner live here, once, for the same
reason: the eligibility rules (enough samples, no sample-ratio mismatch, only at the end for
fixed-horizon designs) must not drift apart between methods.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

Arm = Literal["A", "B"]

METHOD_WELCH = "welch_t_test"
METHOD_MANN_WHITNEY = "mann_whitney_u"
METHOD_CONFIDENCE_SEQUENCE = "asymptotic_confidence_sequence"
METHOD_DIEBOLD_MARIANO = "diebold_mariano_hln"
METHOD_WILCOXON = "wilcoxon_signed_rank"

REASON_WINNER = "winner"
REASON_NO_DIFFERENCE = "no_significant_difference"
REASON_INSUFFICIENT_SAMPLES = "insufficient_samples"
REASON_SAMPLE_RATIO_MISMATCH = "sample_ratio_mismatch"
REASON_IN_PROGRESS = "in_progress"


@dataclass(frozen=True)
class Comparison:
    """What a statistical test says before the eligibility rules are applied.

    ``p_value`` is None when the data cannot support the test at all (fewer than two samples in an
    arm); ``better`` is the arm whose errors are lower in the sense the test measures (mean for
    Welch, Diebold–Mariano and the confidence sequence, stochastic ordering for the rank tests), or
    None on an exact tie.
    """

    method: str
    p_value: float | None
    better: Arm | None


@dataclass(frozen=True)
class AbDecision:
    """The state of one A/B (or shadow) comparison, as stored and served.

    ``decided`` is True once the comparison has reached its conclusion: always at the end of a test,
    and before the end only when a sequential test crosses its boundary. ``winner`` is set only when
    ``reason == "winner"``; a decided test without a winner ended with no significant difference,
    too few samples or a sample-ratio mismatch (see ``reason``).
    """

    samples_a: int
    samples_b: int
    mae_a: float | None
    mae_b: float | None
    rmse_a: float | None
    rmse_b: float | None
    method: str
    p_value: float | None
    confidence: float | None
    decided: bool
    winner: Arm | None
    srm_p_value: float | None
    srm_detected: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: non-finite floats become None because JSON has no NaN/inf."""
        return {key: _json_value(value) for key, value in asdict(self).items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def lower_arm(value_a: float, value_b: float) -> Arm | None:
    """The arm whose value is lower (errors: lower is better); None on a tie."""
    if value_a < value_b:
        return "A"
    if value_b < value_a:
        return "B"
    return None


def absolute_errors(errors: ArrayLike, name: str) -> np.ndarray:
    """Validate one arm's prediction errors and return their absolute values.

    Accepts signed residuals y − ŷ or values that are already absolute, so callers need not care.
    """
    array = np.asarray(errors, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a one-dimensional array of errors, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; match predictions to readings first")
    absolute: np.ndarray = np.abs(array)
    return absolute


def check_significance(significance: float) -> None:
    if not 0.0 < significance <= 0.5:
        raise ValueError(f"significance must be in (0, 0.5], got {significance}")


def check_min_samples(min_samples: int) -> None:
    if isinstance(min_samples, bool) or not isinstance(min_samples, int | np.integer) or min_samples < 2:
        raise ValueError(f"min_samples must be an integer of at least 2 per arm, got {min_samples!r}")


def check_traffic_split(traffic_split: float) -> None:
    if not 0.0 < traffic_split < 1.0:
        raise ValueError(
            f"traffic_split (the share of traffic routed to B) must be strictly between 0 and 1, got {traffic_split}"
        )


def conclude(
    abs_a: np.ndarray,
    abs_b: np.ndarray,
    comparison: Comparison,
    *,
    significance: float,
    min_samples: int,
    final: bool,
    early_stopping: bool,
    srm_p_value: float | None,
    srm_detected: bool,
) -> AbDecision:
    """Apply the eligibility rules to a comparison and build the decision record.

    Precedence of reasons: a sample-ratio mismatch invalidates the data, so it outranks everything;
    then too few samples; then a fixed-horizon design that has not ended yet (its interim p-values
    are shown but are not decisions); then significance.
    """
    enough = min(abs_a.size, abs_b.size) >= min_samples
    significant = comparison.p_value is not None and comparison.p_value < significance and comparison.better is not None
    if srm_detected:
        reason = REASON_SAMPLE_RATIO_MISMATCH
    elif not enough:
        reason = REASON_INSUFFICIENT_SAMPLES
    elif not (final or early_stopping):
        reason = REASON_IN_PROGRESS
    elif significant:
        reason = REASON_WINNER
    elif final:
        reason = REASON_NO_DIFFERENCE
    else:
        reason = REASON_IN_PROGRESS
    p_value = _probability_or_none(comparison.p_value)
    return AbDecision(
        samples_a=int(abs_a.size),
        samples_b=int(abs_b.size),
        mae_a=_mean_or_none(abs_a),
        mae_b=_mean_or_none(abs_b),
        rmse_a=_root_mean_square_or_none(abs_a),
        rmse_b=_root_mean_square_or_none(abs_b),
        method=comparison.method,
        p_value=p_value,
        confidence=None if p_value is None else 1.0 - p_value,
        decided=final or reason == REASON_WINNER,
        winner=comparison.better if reason == REASON_WINNER else None,
        srm_p_value=_probability_or_none(srm_p_value),
        srm_detected=srm_detected,
        reason=reason,
    )


def _probability_or_none(value: float | None) -> float | None:
    """Clip to [0, 1] (library p-values can overshoot 1 by rounding); None when undefined."""
    if value is None or not math.isfinite(value):
        return None
    return min(1.0, max(0.0, float(value)))


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _root_mean_square_or_none(values: np.ndarray) -> float | None:
    return float(np.sqrt(np.mean(values**2))) if values.size else None
