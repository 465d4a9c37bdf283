"""What monitoring says about an evaluation: alert wording, severity and the concept-drift summary.

Words an energy manager reads: the kWh change per reading and since when, how many standard
deviations that is, which metric left which limit, and the data window it is about.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.db.tables import ModelVersion
from app.enums import Severity
from app.services.tracking.evaluation import Evaluation


def concept(evaluation: Evaluation) -> dict[str, Any]:
    degradation, shift = evaluation.degradation, evaluation.level_shift
    metric = degradation.metric or ("level_shift" if shift and shift.detected else "cv_rmse")
    return {
        "detected": evaluation.concept_drift,
        "metric": metric,
        "reference": degradation.reference,
        "current": degradation.current,
        "relative_change": degradation.relative_change,
        "degradation": degradation.to_dict(),
        "level_shift": shift.to_dict() if shift else None,
    }


def degradation_severity(evaluation: Evaluation) -> Severity:
    shifted = bool(evaluation.level_shift and evaluation.level_shift.detected)
    return Severity.CRITICAL if shifted and evaluation.degradation.detected else Severity.WARNING


def degradation_message(evaluation: Evaluation, version: ModelVersion) -> str:
    parts = []
    degradation, shift = evaluation.degradation, evaluation.level_shift
    if degradation.detected and degradation.current is not None:
        parts.append(
            f"{degradation.metric} {degradation.current:.3g} beyond {degradation.limit:.3g} "
            f"for {degradation.bad_windows} evaluation windows"
        )
    if shift and shift.detected and shift.shift is not None:
        since = f" since {evaluation.level_shift_since:%d %b %H:%M}" if evaluation.level_shift_since else ""
        parts.append(
            f"{shift.shift:+.3g} kWh per reading{since} ({abs(shift.shift_sd or 0):.2g} SD) against the baseline"
        )
    return f"Version {version.version} no longer fits: " + "; ".join(parts)


def iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant else None


def span(start: datetime, end: datetime) -> str:
    return f"{start:%d %b} – {end:%d %b}"
