from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.db import tables
from app.ml.drift import stored_severity, window_verdict
from graphql_schema.enums import ModelType


@strawberry.type
class FeatureDrift:
    feature: str
    method: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    severity: str = strawberry.field(description="none, info, warning or critical (info: changed, does not matter).")
    role: str | None = strawberry.field(description="target, weather or driver: how far its drift can escalate.")
    reference: str | None = strawberry.field(
        description="same_weeks (the window's weeks of the year in training) or training (all of it)."
    )
    impact: float | None = strawberry.field(
        description="Mean prediction shift the change implies, in residual standard deviations of the model."
    )
    support_low: float | None = strawberry.field(description="Lower end of the training support.")
    support_high: float | None = strawberry.field(description="Upper end of the training support.")
    explanation: str | None = strawberry.field(description="The verdict in plain words.")


@strawberry.type(
    description="The data-drift verdict of a window as the alert logic decided it: what to show instead of "
    "colouring the raw drift score, which is a trend indicator only."
)
class DriftVerdict:
    severity: str = strawberry.field(
        description="none, info, warning or critical; a DRIFT alert is raised from warning on (info: changed, "
        "but seen in training or barely moving predictions)."
    )
    feature: str | None = strawberry.field(description="The feature that decided (the most severe), if any changed.")
    method: str | None = strawberry.field(
        description="The criterion that decided: psi, ks, wasserstein, envelope (outside the training support) or "
        "impact (the implied prediction shift)."
    )
    raises_alert: bool = strawberry.field(description="Whether this verdict raises (or keeps open) a DRIFT alert.")
    meaning: str = strawberry.field(description="The verdict in plain words.")

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> DriftVerdict:
        return cls(
            severity=item["severity"],
            feature=item["feature"],
            method=item["method"],
            raises_alert=item["raises_alert"],
            meaning=item["meaning"],
        )


@strawberry.type
class ConceptDrift:
    detected: bool
    metric: str
    reference: float | None
    current: float | None
    relative_change: float | None


@strawberry.type
class DriftReport:
    id: uuid.UUID
    machine_id: uuid.UUID
    model_type: ModelType
    model_version_id: uuid.UUID
    checked_at: datetime
    window_start: datetime
    window_end: datetime
    sample_count: int
    drift_detected: bool
    drift_score: float
    verdict: DriftVerdict = strawberry.field(description="The verdict the alert logic acted on (driftScore is PSI).")
    features: list[FeatureDrift]
    concept: ConceptDrift
    details: JSON = strawberry.field(
        description="Every statistic computed per feature and for concept drift (PSI, KS, Wasserstein, CUSUM)."
    )

    @classmethod
    def from_row(cls, row: tables.DriftReport) -> DriftReport:
        return cls(
            id=row.id,
            machine_id=row.machine_id,
            model_type=row.model_type,
            model_version_id=row.model_version_id,
            checked_at=row.checked_at,
            window_start=row.window_start,
            window_end=row.window_end,
            sample_count=row.sample_count,
            drift_detected=row.drift_detected,
            drift_score=row.drift_score,
            verdict=DriftVerdict.from_dict(window_verdict(row.features)),
            features=[_feature(item) for item in row.features],
            concept=_concept(row.concept),
            details=JSON({"features": row.features, "concept": row.concept}),
        )


def _feature(item: dict[str, Any]) -> FeatureDrift:
    return FeatureDrift(
        feature=item["feature"],
        method=item["method"],
        statistic=item["statistic"],
        p_value=item.get("p_value"),
        threshold=item["threshold"],
        drifted=item["drifted"],
        severity=stored_severity(item).value,
        role=item.get("role"),
        reference=item.get("reference"),
        impact=item.get("impact"),
        support_low=item.get("support_low"),
        support_high=item.get("support_high"),
        explanation=item.get("explanation"),
    )


def _concept(item: dict[str, Any]) -> ConceptDrift:
    return ConceptDrift(
        detected=item["detected"],
        metric=item["metric"],
        reference=item.get("reference"),
        current=item.get("current"),
        relative_change=item.get("relative_change"),
    )
