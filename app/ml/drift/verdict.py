"""The model-aware data-drift verdict of a monitoring window (see docs/drift.md).

Per feature, the distribution-change rule of ``drift_data`` (significant and material) is applied
against what the model saw under comparable conditions — the same weeks of the year in training
where training covers them (``drift_seasonal``) — and then weighed by what the change means to the
model:

* outside the training support (range plus a margin) the model extrapolates: a warning, for a
  driver or the weather;
* inside it, a weather change is at most INFO (the model has seen such weather), and a target
  (energy) change is always INFO (concept drift judges it);
* a driver's change warns when its implied prediction shift reaches ``impact_warning`` residual
  SDs, and is critical at ``impact_critical``; without a model to measure the impact, the
  distribution rule's own severity stands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from app.ml.drift.data import (
    SEVERITIES,
    DataDriftReport,
    DataDriftThresholds,
    DriftMethod,
    FeatureDrift,
    Reference,
    Role,
    Severity,
    compare_feature,
)
from app.ml.drift.profile import FeatureProfile, read_reference_profile
from app.ml.drift.seasonal import Predict, comparable_reference, impact, window_weeks
from app.ml.drift.statistics import sorted_finite
from app.ml.features import ENERGY, TEMPERATURE

#: Roles of the reading columns unless a caller says otherwise.
DEFAULT_ROLES: dict[str, Role] = {ENERGY: Role.TARGET, TEMPERATURE: Role.WEATHER}


def compare_to_profile(
    profile: Mapping[str, Any], current: Mapping[str, ArrayLike], thresholds: DataDriftThresholds | None = None
) -> DataDriftReport:
    """``compare_to_references`` against a stored profile (the JSON ``build_reference_profile`` returns), with
    neither timestamps nor a model: what a check of a window's distributions alone needs."""
    return compare_to_references(read_reference_profile(profile), current, thresholds)


def compare_to_references(
    references: Mapping[str, FeatureProfile],
    current: Mapping[str, ArrayLike],
    thresholds: DataDriftThresholds | None = None,
    *,
    index: pd.DatetimeIndex | None = None,
    predict: Predict | None = None,
    residual_std: float | None = None,
    roles: Mapping[str, Role] | None = None,
) -> DataDriftReport:
    """Data drift of each profiled feature of ``current`` (non-finite values dropped).

    ``references``: a stored profile as ``read_reference_profile`` parses it (monitoring keeps the
    parsed form per version rather than parsing ~160 kB of JSON every evaluation).

    With the window's timestamps (``index``) each feature is compared with the same weeks of the
    year in training where training covers them (``seasonal.comparable_reference``), else with all of
    training. With ``predict`` (the model on columns of ``current``) and its ``residual_std``, a
    driver's change is weighed by its impact on predictions. ``roles`` defaults to energy as the
    target, outdoor temperature as weather and every other column as a driver.
    """
    thresholds = thresholds or DataDriftThresholds()
    samples = {name: sorted_finite(current[name]) for name in references if name in current}
    compared = [name for name, values in samples.items() if values.size]
    skipped = [name for name in references if name not in compared]
    skipped += [name for name in current if name not in references]
    alpha = thresholds.ks_alpha / max(len(compared), 1)
    weeks = window_weeks(index) if index is not None and len(index) else ()
    columns = {name: np.asarray(current[name], dtype=float) for name in current}
    predict = _unchanged_once(columns, predict) if predict is not None else None
    results = []
    for name in compared:
        seasonal = comparable_reference(references[name], weeks)
        result = compare_feature(name, seasonal or references[name], samples[name], thresholds, alpha)
        role = (roles or DEFAULT_ROLES).get(name, Role.DRIVER)
        effect = None
        if predict is not None and residual_std and role is not Role.TARGET:
            effect = impact(predict, columns, name, result.current_mean - result.reference_mean, residual_std)
        results.append(_verdict(result, references[name], samples[name], thresholds, role, seasonal, effect))
    levels = [SEVERITIES.index(result.severity) for result in results]
    return DataDriftReport(
        features=tuple(results),
        drift_score=max((result.psi for result in results), default=0.0),
        detected=any(result.drifted for result in results),
        severity=SEVERITIES[max(levels, default=0)],
        skipped=tuple(skipped),
    )


def _unchanged_once(columns: Mapping[str, np.ndarray], predict: Predict) -> Predict:
    """``predict`` computing the prediction on the unchanged ``columns`` once: each driver's impact is measured
    from it, and a model's prediction is most of a drift check's time."""
    unchanged: list[np.ndarray] = []

    def cached(changed: Mapping[str, np.ndarray]) -> np.ndarray:
        if changed is not columns:
            return predict(changed)
        if not unchanged:
            unchanged.append(predict(columns))
        return unchanged[0]

    return cached


def _verdict(
    result: FeatureDrift,
    training: FeatureProfile,
    current: np.ndarray,
    thresholds: DataDriftThresholds,
    role: Role,
    seasonal: FeatureProfile | None,
    effect: float | None,
) -> FeatureDrift:
    """Escalate the distribution change by what it means to the model.

    Outside the training support the model extrapolates: a warning for a driver or the weather.
    Inside it, a weather change the model has seen (or any target change) is at most INFO; a driver's
    change warns when its implied prediction shift reaches the impact thresholds (or, when the impact
    was not measured, by the distribution-change rule alone, as without a model).
    """
    margin = thresholds.envelope_sd * training.std
    low, high = training.minimum - margin, training.maximum + margin
    outside = float(np.mean((current < low) | (current > high)))
    changed = _change_level(result, thresholds)
    level = 1 if changed or outside > thresholds.envelope_share else 0
    method, statistic, threshold = result.method, result.statistic, result.threshold
    if role is not Role.TARGET and outside > thresholds.envelope_share:
        level, method, statistic, threshold = 2, DriftMethod.ENVELOPE, outside, thresholds.envelope_share
    if role is Role.DRIVER and changed:
        if effect is None:
            level = max(level, changed + 1)
        elif abs(effect) >= thresholds.impact_warning:
            level, method, statistic = max(level, 2), DriftMethod.IMPACT, abs(effect)
            threshold = thresholds.impact_warning
    if role is not Role.TARGET and effect is not None and abs(effect) >= thresholds.impact_critical and level >= 2:
        level, method, statistic, threshold = 3, DriftMethod.IMPACT, abs(effect), thresholds.impact_critical
    severity = SEVERITIES[level]
    reference = Reference.SAME_WEEKS if seasonal is not None else Reference.TRAINING
    return replace(
        result,
        method=method,
        statistic=statistic,
        threshold=threshold,
        p_value=result.p_value if method is DriftMethod.KS else None,
        drifted=level >= 2,
        severity=severity,
        envelope_share=outside,
        role=role,
        reference=reference,
        support_low=low,
        support_high=high,
        impact=effect,
        explanation=_explain(result, role, reference, outside, low, high, effect, severity),
    )


def _change_level(result: FeatureDrift, thresholds: DataDriftThresholds) -> int:
    """The significant-and-material rule against the comparable reference: 0 none, 1 warning, 2 critical."""
    if not result.ks_statistic > result.ks_critical_value:
        return 0
    if result.psi >= thresholds.psi_critical or result.wasserstein_normalised >= thresholds.wasserstein_critical:
        return 2
    material = result.psi >= thresholds.psi_warning or result.wasserstein_normalised >= thresholds.wasserstein_threshold
    return 1 if material else 0


def _explain(
    result: FeatureDrift,
    role: Role,
    reference: Reference,
    outside: float,
    low: float,
    high: float,
    effect: float | None,
    severity: Severity,
) -> str:
    compared = "the same weeks of training" if reference is Reference.SAME_WEEKS else "training"
    parts = [f"mean {result.current_mean:.4g} vs {result.reference_mean:.4g} in {compared}"]
    if outside > 0:
        parts.append(f"{outside:.0%} of readings outside the training range {low:.4g} … {high:.4g}")
    else:
        parts.append(f"inside the training range {low:.4g} … {high:.4g}")
    if effect is not None:
        parts.append(f"moves predictions by {effect:+.2g} residual SD")
    if severity is Severity.INFO:
        parts.append(
            "energy changes are judged by the accuracy checks"
            if role is Role.TARGET
            else "a change the model has seen in training"
        )
    return "; ".join(parts)


def window_verdict(features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The verdict of a window that the alert logic acts on, from its per-feature results as stored
    (``FeatureDrift.to_dict``): the most severe feature decides, and between equals the one furthest
    past its threshold. A DRIFT alert is raised from WARNING on; INFO is a change worth showing that
    the model has seen in training or that barely moves its predictions.

    Plain JSON (severity, feature, method, raises_alert, meaning), so a dashboard can show what the
    alert logic decided rather than colouring the raw score, which is a trend indicator only.
    """

    def rank(item: Mapping[str, Any]) -> tuple[int, float]:
        past = item["statistic"] / item["threshold"] if item.get("threshold") else 0.0
        return SEVERITIES.index(stored_severity(item)), past

    changed = [item for item in features if stored_severity(item) is not Severity.NONE]
    if not changed:
        return {
            "severity": Severity.NONE.value,
            "feature": None,
            "method": None,
            "raises_alert": False,
            "meaning": "inputs like comparable training data",
        }
    worst = max(changed, key=rank)
    severity, name, method = stored_severity(worst), worst["feature"], DriftMethod(worst["method"])
    if severity is Severity.INFO:
        meaning = f"{name} {_why_no_alert(worst)}"
    elif method is DriftMethod.ENVELOPE:
        meaning = f"{name} outside its training range: the model extrapolates"
    elif method is DriftMethod.IMPACT:
        meaning = f"{name} moves predictions by {abs(worst['impact']):.1f} residual SD"
    else:
        meaning = f"{name} changed materially ({method.value})"
    return {
        "severity": severity.value,
        "feature": name,
        "method": method.value,
        "raises_alert": severity in (Severity.WARNING, Severity.CRITICAL),
        "meaning": meaning,
    }


def _why_no_alert(item: Mapping[str, Any]) -> str:
    """Why an INFO change does not matter to the model, from its role (``_verdict`` decides the same way)."""
    if item.get("role") == Role.TARGET.value:
        return "changed: energy is judged by the accuracy checks"
    if item.get("impact") is not None and item.get("role") == Role.DRIVER.value:
        return f"changed, moving predictions by only {abs(item['impact']):.1f} residual SD"
    low, high = item.get("support_low"), item.get("support_high")
    inside = f" ({low:.3g} … {high:.3g})" if low is not None and high is not None else ""
    return f"changed, within its training range{inside}"


def stored_severity(item: Mapping[str, Any]) -> Severity:
    """Reports stored before severities existed carry only ``drifted`` (then critical, as alerted)."""
    if "severity" in item:
        return Severity(item["severity"])
    return Severity.CRITICAL if item.get("drifted") else Severity.NONE
