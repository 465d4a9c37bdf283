"""Per-feature data drift against a reference: statistics and the verdict.

Decision rule (the same at every sample size, see docs/drift.md):

* a feature **drifts** when its change is both *statistically significant* (two-sample KS p-value
  below ``ks_alpha``, Bonferroni-divided by the number of features in a report) **and** *material*
  (PSI or normalised Wasserstein at or above its warning threshold). In small windows effect-size
  estimates are noisy and biased upward, so the test is what decides; in large windows every
  difference is significant, so the effect size is what decides. A fixed true change is therefore
  flagged with a probability that rises with the window when it is material and falls to zero
  when it is not, with no sample-size switch that flips verdicts at an arbitrary row count;
* independently of the test, a share of values outside the training envelope
  ``[min - k*SD, max + k*SD]`` above ``envelope_share`` is a warning: the model is extrapolating;
* severity is critical when PSI or normalised Wasserstein reaches its critical threshold (and the
  change is significant), warning for any other drift, none otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from app.ml.drift.profile import FeatureProfile
from app.ml.drift.statistics import (
    bin_counts,
    ks_critical_value,
    ks_p_value,
    population_stability_index,
    sorted_finite,
    support_distances,
)


class Severity(StrEnum):
    NONE = "none"
    #: Changed, but in a way the model has seen or does not care about: reported, never alerted.
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Role(StrEnum):
    """How a profiled column relates to the model, which decides how far its drift can escalate."""

    #: The model's target (energy): its change is concept drift's business, so data drift reports it as INFO.
    TARGET = "target"
    #: Weather: seasonal by nature; matters only outside the range the model was trained on.
    WEATHER = "weather"
    #: Any other driver (production): matters when outside training support or when it moves predictions.
    DRIVER = "driver"


class Reference(StrEnum):
    """What a feature's window was compared with."""

    SAME_WEEKS = "same_weeks"
    TRAINING = "training"


class DriftMethod(StrEnum):
    """The criterion that decided a feature's verdict."""

    PSI = "psi"
    KS = "ks"
    WASSERSTEIN = "wasserstein"
    ENVELOPE = "envelope"
    #: The implied prediction shift in residual SDs (``seasonal.impact``).
    IMPACT = "impact"


#: Levels of the distribution-change rule (none, warning, critical) before role and impact are applied.
CHANGE_LEVELS: tuple[Severity, ...] = (Severity.NONE, Severity.WARNING, Severity.CRITICAL)
#: Severities from least to most severe.
SEVERITIES: tuple[Severity, ...] = (Severity.NONE, Severity.INFO, Severity.WARNING, Severity.CRITICAL)


@dataclass(frozen=True)
class DataDriftThresholds:
    """Per-policy knobs of the data-drift verdict (defaults are the documented ones)."""

    psi_warning: float = 0.1
    psi_critical: float = 0.25
    #: Family-wise significance of a report: each of its k features is tested at ``ks_alpha / k``.
    ks_alpha: float = 0.05
    #: Wasserstein distance divided by the reference standard deviation, i.e. in reference SDs.
    wasserstein_threshold: float = 0.1
    wasserstein_critical: float = 0.5
    #: Half-width of the training support beyond the training range, in training SDs.
    envelope_sd: float = 0.5
    #: Largest tolerated share of current values outside the training support.
    envelope_share: float = 0.01
    #: Implied prediction shift, in residual SDs of the model, for a driver's change to warn and to be critical.
    impact_warning: float = 2.0
    impact_critical: float = 4.0

    def __post_init__(self) -> None:
        if not 0 < self.psi_warning <= self.psi_critical:
            raise ValueError("need 0 < psi_warning <= psi_critical")
        if not 0 < self.wasserstein_threshold <= self.wasserstein_critical:
            raise ValueError("need 0 < wasserstein_threshold <= wasserstein_critical")
        if not 0 < self.ks_alpha < 1:
            raise ValueError("ks_alpha must lie in (0, 1)")
        if self.envelope_sd < 0 or not 0 <= self.envelope_share < 1:
            raise ValueError("need envelope_sd >= 0 and 0 <= envelope_share < 1")
        if not 0 < self.impact_warning <= self.impact_critical:
            raise ValueError("need 0 < impact_warning <= impact_critical")


@dataclass(frozen=True)
class FeatureDrift:
    """Verdict and statistics of one feature.

    ``method``, ``statistic`` and ``threshold`` name the criterion that decided: for ``ks`` the
    statistic is the KS distance and the threshold its critical value at the feature's alpha (so
    ``statistic > threshold`` exactly when ``p_value < alpha``); ``p_value`` is set only for ``ks``.
    """

    feature: str
    method: DriftMethod
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    severity: Severity
    psi: float
    ks_statistic: float
    ks_p_value: float
    ks_critical_value: float
    wasserstein: float
    wasserstein_normalised: float
    envelope_share: float
    reference_count: int
    current_count: int
    reference_mean: float
    reference_std: float
    current_mean: float
    current_std: float
    bin_edges: tuple[float, ...]
    reference_proportions: tuple[float, ...]
    current_proportions: tuple[float, ...]
    role: Role = Role.DRIVER
    reference: Reference = Reference.TRAINING
    #: Training support ``[min - k*SD, max + k*SD]`` of the whole training window.
    support_low: float = -math.inf
    support_high: float = math.inf
    #: Mean prediction shift the change implies, in residual SDs (None when not measured).
    impact: float | None = None
    #: The verdict in plain words.
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (lists for tuples, strings for enums, None for infinite bounds).

        Built field by field: ``dataclasses.asdict`` deep-copies every number of the bin tuples (7x the
        time), and every monitoring evaluation stores each feature's result.
        """
        data = {field.name: getattr(self, field.name) for field in fields(self)}
        for name in ("bin_edges", "reference_proportions", "current_proportions"):
            data[name] = list(data[name])
        for name in ("method", "severity", "role", "reference"):
            data[name] = getattr(self, name).value
        for name in ("support_low", "support_high"):
            data[name] = data[name] if math.isfinite(data[name]) else None
        return data


@dataclass(frozen=True)
class DataDriftReport:
    """Verdict over all features of a window.

    ``drift_score`` is the largest per-feature PSI (the scale most readers know: 0.1 / 0.25); it
    is a trend indicator, while ``detected`` applies the sample-size-aware rule above.
    """

    features: tuple[FeatureDrift, ...]
    drift_score: float
    detected: bool
    severity: Severity
    #: Profiled features without finite current values, and current features the profile lacks.
    skipped: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [feature.to_dict() for feature in self.features],
            "drift_score": self.drift_score,
            "detected": self.detected,
            "severity": self.severity.value,
            "skipped": list(self.skipped),
        }


def compare_arrays(
    reference: ArrayLike,
    current: ArrayLike,
    thresholds: DataDriftThresholds | None = None,
    *,
    feature: str = "value",
) -> FeatureDrift:
    """Data drift of one feature from raw samples, with exact KS and Wasserstein statistics.

    The reference profile is built with the whole sorted reference as its sketch, so this is the
    production path without the sketch approximation; ``ks_alpha`` applies to this one test as is.
    """
    thresholds = thresholds or DataDriftThresholds()
    sorted_reference = sorted_finite(reference)
    sorted_current = sorted_finite(current)
    if sorted_reference.size == 0 or sorted_current.size == 0:
        raise ValueError("both samples need at least one finite value")
    profile = FeatureProfile.from_sorted(sorted_reference, sketch_size=sorted_reference.size)
    return compare_feature(feature, profile, sorted_current, thresholds, thresholds.ks_alpha)


def compare_feature(
    feature: str,
    reference: FeatureProfile,
    current: np.ndarray,
    thresholds: DataDriftThresholds,
    alpha: float,
) -> FeatureDrift:
    """Statistics and verdict of one feature; ``current`` is sorted, finite and non-empty."""
    distances = support_distances(reference.sketch, current)
    current_counts = bin_counts(current, reference.bin_edges)
    effective_size = reference.count * current.size / (reference.count + current.size)
    p_value = ks_p_value(distances.ks_statistic, effective_size)
    critical_distance = ks_critical_value(alpha, effective_size)
    # A constant reference has no spread to scale by; the envelope is what catches any change then,
    # and the distance is kept in the feature's own unit.
    scale = reference.std if reference.std > 0 else 1.0
    wasserstein_normalised = distances.wasserstein / scale
    margin = thresholds.envelope_sd * reference.std
    inside = np.searchsorted(current, reference.maximum + margin, side="right") - np.searchsorted(
        current, reference.minimum - margin, side="left"
    )
    envelope_share = float(1.0 - inside / current.size)
    psi = population_stability_index(reference.bin_counts, current_counts)

    candidates = [_Candidate(DriftMethod.ENVELOPE, envelope_share, thresholds.envelope_share, strict=True)]
    significant = p_value < alpha
    if significant:
        candidates += [
            _Candidate(DriftMethod.PSI, psi, thresholds.psi_warning, thresholds.psi_critical),
            _Candidate(
                DriftMethod.WASSERSTEIN,
                wasserstein_normalised,
                thresholds.wasserstein_threshold,
                thresholds.wasserstein_critical,
            ),
        ]
    decisive = max(candidates, key=lambda candidate: (candidate.level, candidate.ratio))
    if decisive.level == 0 and not significant:
        decisive = _Candidate(DriftMethod.KS, distances.ks_statistic, critical_distance)

    return FeatureDrift(
        feature=feature,
        method=decisive.method,
        statistic=decisive.statistic,
        p_value=p_value if decisive.method is DriftMethod.KS else None,
        threshold=decisive.threshold,
        drifted=decisive.level > 0,
        severity=CHANGE_LEVELS[decisive.level],
        psi=psi,
        ks_statistic=distances.ks_statistic,
        ks_p_value=p_value,
        ks_critical_value=critical_distance,
        wasserstein=distances.wasserstein,
        wasserstein_normalised=wasserstein_normalised,
        envelope_share=envelope_share,
        reference_count=reference.count,
        current_count=int(current.size),
        reference_mean=reference.mean,
        reference_std=reference.std,
        current_mean=float(np.mean(current)),
        current_std=float(np.std(current)),
        bin_edges=tuple(reference.bin_edges.tolist()),
        reference_proportions=tuple((reference.bin_counts / reference.count).tolist()),
        current_proportions=tuple((current_counts / current.size).tolist()),
    )


@dataclass(frozen=True)
class _Candidate:
    """One criterion's reading: which threshold it reached and how far it is relative to it."""

    method: DriftMethod
    statistic: float
    warning: float
    critical: float = math.inf
    #: The envelope tolerates a share equal to its threshold (0 means "no value outside").
    strict: bool = False

    @property
    def level(self) -> int:
        """Index into ``SEVERITIES`` of the threshold this reading reached."""
        if self.statistic >= self.critical:
            return 2
        reached = self.statistic > self.warning if self.strict else self.statistic >= self.warning
        return 1 if reached else 0

    @property
    def threshold(self) -> float:
        return self.critical if self.level == 2 else self.warning

    @property
    def ratio(self) -> float:
        return self.statistic / self.warning if self.warning > 0 else self.statistic
