"""Drift monitoring: reference profiles, data drift per feature, and concept drift.

The public entry point; the work is done in

* ``drift_statistics`` — KS, Wasserstein and PSI from sorted arrays (one sort per column);
* ``drift_profile``    — the bounded, JSON-serialisable reference profile of a model version;
* ``drift_data``       — per-feature statistics and the sample-size-aware verdict;
* ``drift_seasonal``   — the same weeks of training as reference, and a feature's impact on predictions;
* ``drift_verdict``    — the model-aware verdict of a window (what a change means to the model);
* ``drift_concept``    — error-metric degradation over consecutive windows and a residual CUSUM.

The method and its decision rule are explained for users in ``docs/drift.md``.
"""

from app.ml.drift.concept import (
    CusumSettings,
    ErrorMetrics,
    LevelShift,
    MetricDegradation,
    MetricThresholds,
    ResidualReference,
    detect_level_shift,
    detect_metric_degradation,
    residual_reference,
)
from app.ml.drift.data import (
    DataDriftReport,
    DataDriftThresholds,
    DriftMethod,
    FeatureDrift,
    Severity,
    compare_arrays,
)
from app.ml.drift.profile import (
    PROFILE_VERSION,
    FeatureProfile,
    build_reference_profile,
    read_reference_profile,
)
from app.ml.drift.verdict import compare_to_profile, compare_to_references, stored_severity, window_verdict

__all__ = [
    "PROFILE_VERSION",
    "CusumSettings",
    "DataDriftReport",
    "DataDriftThresholds",
    "DriftMethod",
    "ErrorMetrics",
    "FeatureDrift",
    "FeatureProfile",
    "LevelShift",
    "MetricDegradation",
    "MetricThresholds",
    "ResidualReference",
    "Severity",
    "build_reference_profile",
    "compare_arrays",
    "compare_to_profile",
    "compare_to_references",
    "detect_level_shift",
    "detect_metric_degradation",
    "read_reference_profile",
    "residual_reference",
    "stored_severity",
    "window_verdict",
]
