"""Anytime-valid comparison of mean absolute errors: an asymptotic confidence sequence.

A fixed-horizon p-value checked at every look and acted on at the first one below the significance
level has a false-winner rate far above that level (see docs/ab-testing.md for measured numbers).
This module uses the two-sided asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha,
Kennedy and Ramdas ("Time-uniform central limit theory and asymptotic confidence sequences", 2021),
built on Robbins' normal-mixture boundary: with probability at least 1 − α the interval

    Δ̂_t ± σ̂_t · sqrt( 2(tρ² + 1) / (t²ρ²) · log( sqrt(tρ² + 1) / α ) )

covers the true difference Δ at every time t simultaneously, so a test may stop at the first look
where it excludes zero. Here t is the total number of matched predictions in both arms and Δ̂ the
difference of the arms' MAEs; its plug-in variance σ̂_t²/t = s_A²/n_A + s_B²/n_B is, under Bernoulli
routing, asymptotically the variance of the augmented inverse-propensity estimator of Δ that the
paper uses for randomised experiments, so the same boundary applies.

"Asymptotic" means the guarantee holds as the number of samples grows, like the CLT behind a t-test;
a burn-in of ``min_samples`` per arm before any decision keeps early variance estimates from
producing spurious crossings.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from app.ml.abtest.result import METHOD_CONFIDENCE_SEQUENCE, Comparison, lower_arm


def default_planned_samples(min_samples: int, traffic_split: float) -> int:
    """Total sample count at which the boundary is tuned to be tightest, when the caller has no better plan.

    It is the expected total when the smaller arm first reaches ``min_samples``: the earliest point at
    which a decision is allowed, so a clear winner is confirmed as soon as the rules permit.
    """
    return math.ceil(min_samples / min(traffic_split, 1.0 - traffic_split))


def mixture_rho_squared(significance: float, planned_samples: int) -> float:
    """Mixture variance ρ² minimising the boundary width at ``planned_samples`` (the paper's approximation).

    It must stay fixed for the life of a test: re-tuning it from the data seen so far would void
    the time-uniform guarantee.
    """
    log_term = -2.0 * math.log(significance)
    return (log_term + math.log(log_term + 1.0)) / planned_samples


def confidence_sequence_p_value(
    difference: ArrayLike, variance: ArrayLike, total_samples: ArrayLike, rho_squared: float
) -> np.ndarray:
    """Anytime-valid p-value for "no difference": the reciprocal of Robbins' normal-mixture martingale.

    ``variance`` is the estimated variance of ``difference`` (s_A²/n_A + s_B²/n_B). Stopping at the
    first look where this falls below α keeps the false-winner probability at most α however many
    looks are taken; the confidence sequence at level α excludes zero exactly when it is below α.
    Elementwise over arrays, so every look of many simulated tests is evaluated in one call.
    """
    difference, variance, total_samples = np.broadcast_arrays(
        *(np.asarray(value, dtype=float) for value in (difference, variance, total_samples))
    )
    intrinsic_time = total_samples * rho_squared
    degenerate = variance <= 0.0
    # Degenerate elements (no spread: the difference is known exactly) are replaced below.
    with np.errstate(divide="ignore", invalid="ignore"):
        z_squared = difference**2 / variance
        log_p = 0.5 * np.log1p(intrinsic_time) - z_squared * intrinsic_time / (2.0 * (intrinsic_time + 1.0))
    p_value = np.exp(np.minimum(log_p, 0.0))
    return np.where(degenerate, np.where(difference == 0.0, 1.0, 0.0), p_value)


def sequential_test(abs_a: np.ndarray, abs_b: np.ndarray, *, significance: float, planned_samples: int) -> Comparison:
    """Confidence-sequence test on the difference of MAEs; the arm with the lower MAE is the better one."""
    if min(abs_a.size, abs_b.size) < 2:
        return Comparison(METHOD_CONFIDENCE_SEQUENCE, None, None)
    mean_a, mean_b = float(abs_a.mean()), float(abs_b.mean())
    variance = abs_a.var(ddof=1) / abs_a.size + abs_b.var(ddof=1) / abs_b.size
    p_value = confidence_sequence_p_value(
        mean_b - mean_a, variance, abs_a.size + abs_b.size, mixture_rho_squared(significance, planned_samples)
    )
    return Comparison(METHOD_CONFIDENCE_SEQUENCE, float(p_value), lower_arm(mean_a, mean_b))
