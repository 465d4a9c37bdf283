"""A/B decision statistics for comparing two versions of one machine's model.

An A/B test serves each prediction from version A (the champion) or B (the challenger), routed by
``route_arm``; each served prediction is later matched with the actual kWh reading, and the per-arm
absolute errors |y − ŷ| are compared (lower is better). ``decide`` turns them into an ``AbDecision``:

* fixed horizon (``sequential=False``): Welch's t-test on the mean absolute errors, or Mann–Whitney U
  when the errors are too skewed for the normal approximation at the given n; a decision only at the
  end (``final=True``);
* sequential (``sequential=True``): an asymptotic confidence sequence on the MAE difference whose
  p-value stays valid at every look, so a winner may be declared as soon as it is crossed.

Both check the realised split against the planned one (sample-ratio mismatch) and never declare a
winner on data that fails it. ``compare_shadow`` compares two versions that predicted the same
readings, with paired tests. Methods, assumptions and how to read the output: docs/ab-testing.md.
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from app.ml.abtest.fixed import fixed_horizon_test
from app.ml.abtest.result import (
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
    Arm,
    absolute_errors,
    check_min_samples,
    check_significance,
    check_traffic_split,
    conclude,
)
from app.ml.abtest.routing import SRM_THRESHOLD, route_arm, route_arms, sample_ratio_p_value
from app.ml.abtest.sequential import default_planned_samples, sequential_test
from app.ml.abtest.shadow import compare_shadow

__all__ = [
    "METHOD_CONFIDENCE_SEQUENCE",
    "METHOD_DIEBOLD_MARIANO",
    "METHOD_MANN_WHITNEY",
    "METHOD_WELCH",
    "METHOD_WILCOXON",
    "REASON_INSUFFICIENT_SAMPLES",
    "REASON_IN_PROGRESS",
    "REASON_NO_DIFFERENCE",
    "REASON_SAMPLE_RATIO_MISMATCH",
    "REASON_WINNER",
    "SRM_THRESHOLD",
    "AbDecision",
    "Arm",
    "compare_shadow",
    "decide",
    "route_arm",
    "route_arms",
    "sample_ratio_p_value",
]


def decide(
    errors_a: ArrayLike,
    errors_b: ArrayLike,
    *,
    traffic_split: float,
    min_samples: int,
    significance: float,
    final: bool,
    sequential: bool = False,
    planned_samples: int | None = None,
) -> AbDecision:
    """Evaluate an A/B test on the errors matched so far.

    ``errors_a``/``errors_b``: prediction errors of each arm (signed y − ŷ or already absolute).
    ``traffic_split``: planned share routed to B, for the sample-ratio check and the sequential tuning.
    ``min_samples``: per-arm minimum before any winner. ``final``: the test has reached its end.
    ``sequential``: use the anytime-valid confidence sequence, which may decide before the end; the
    choice must be made when the test starts and kept (switching designs mid-test voids both).
    ``planned_samples``: total samples (both arms) at which the sequence is tuned to be tightest;
    defaults to the total at which the smaller arm reaches ``min_samples``. Keep it fixed per test.
    """
    abs_a = absolute_errors(errors_a, "errors_a")
    abs_b = absolute_errors(errors_b, "errors_b")
    check_traffic_split(traffic_split)
    check_min_samples(min_samples)
    check_significance(significance)
    if sequential:
        if planned_samples is None:
            planned_samples = default_planned_samples(min_samples, traffic_split)
        elif planned_samples < 1:
            raise ValueError(f"planned_samples must be a positive total sample count, got {planned_samples}")
        comparison = sequential_test(abs_a, abs_b, significance=significance, planned_samples=planned_samples)
    else:
        comparison = fixed_horizon_test(abs_a, abs_b)
    srm_p_value = sample_ratio_p_value(abs_a.size, abs_b.size, traffic_split)
    return conclude(
        abs_a,
        abs_b,
        comparison,
        significance=significance,
        min_samples=min_samples,
        final=final,
        early_stopping=sequential,
        srm_p_value=srm_p_value,
        srm_detected=srm_p_value is not None and srm_p_value < SRM_THRESHOLD,
    )
