from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from app.db import tables
from app.ml.abtest import REASON_IN_PROGRESS
from app.services.experiments.comparisons import ShadowComparison
from graphql_schema.engine.context import Info
from graphql_schema.enums import AbTestStatus, ModelType
from graphql_schema.types.versions import ModelVersion


@strawberry.enum(description="Paired test of a shadow comparison (docs/ab-testing.md says when to use which).")
class ShadowMethod(Enum):
    DIEBOLD_MARIANO = "diebold_mariano"
    WILCOXON = "wilcoxon"


@strawberry.type
class AbTestResults:
    samples_a: int
    samples_b: int
    mae_a: float | None
    mae_b: float | None
    rmse_a: float | None
    rmse_b: float | None
    method: str = strawberry.field(description="Statistical method used for the decision.")
    p_value: float | None
    confidence: float | None = strawberry.field(description="1 - pValue, clipped to [0, 1]")
    decided: bool
    winner: str | None = strawberry.field(description="A or B; null while undecided or when no significant difference.")
    sample_ratio_mismatch: bool = strawberry.field(
        description="True when the arms' sample counts contradict the traffic split (chi-square, p < 0.001)."
    )
    sample_ratio_p_value: float | None = strawberry.field(
        description="p-value of the sample-ratio check; null without samples or for shadow comparisons."
    )
    reason: str = strawberry.field(
        description="Why the result is what it is: winner, no_significant_difference, insufficient_samples, "
        "sample_ratio_mismatch, in_progress, or stopped (ended by hand before a decision)."
    )
    evaluated_at: datetime | None = strawberry.field(
        description="When these results were computed (A/B tests are evaluated periodically)."
    )

    @classmethod
    def from_results(cls, stored: dict[str, Any], winner: str | None) -> AbTestResults:
        evaluated_at = stored.get("evaluated_at")
        return cls(
            samples_a=stored.get("samples_a", 0),
            samples_b=stored.get("samples_b", 0),
            mae_a=stored.get("mae_a"),
            mae_b=stored.get("mae_b"),
            rmse_a=stored.get("rmse_a"),
            rmse_b=stored.get("rmse_b"),
            method=stored.get("method", "not evaluated yet"),
            p_value=stored.get("p_value"),
            confidence=stored.get("confidence"),
            decided=bool(stored.get("decided", False)),
            winner=winner,
            sample_ratio_mismatch=bool(stored.get("srm_detected", False)),
            sample_ratio_p_value=stored.get("srm_p_value"),
            reason=stored.get("reason", REASON_IN_PROGRESS),
            evaluated_at=datetime.fromisoformat(evaluated_at) if evaluated_at else None,
        )


@strawberry.type
class AbTest:
    id: uuid.UUID
    machine_id: uuid.UUID
    model_type: ModelType
    model_a_id: strawberry.Private[uuid.UUID]
    model_b_id: strawberry.Private[uuid.UUID]
    traffic_split: float = strawberry.field(description="Share of predictions routed to B.")
    status: AbTestStatus
    started_at: datetime
    ends_at: datetime
    finished_at: datetime | None
    started_by: str | None
    min_samples: int
    significance: float
    sequential: bool = strawberry.field(description="Early decisions allowed (anytime-valid confidence sequence).")
    planned_samples: int | None = strawberry.field(
        description="Total matched predictions the sequential test is tuned for; null means the default."
    )
    results: AbTestResults

    @strawberry.field
    async def model_a(self, info: Info) -> ModelVersion:
        return ModelVersion.from_row(await info.context.loaders.version.load(self.model_a_id))

    @strawberry.field
    async def model_b(self, info: Info) -> ModelVersion:
        return ModelVersion.from_row(await info.context.loaders.version.load(self.model_b_id))

    @classmethod
    def from_row(cls, row: tables.AbTest) -> AbTest:
        return cls(
            id=row.id,
            machine_id=row.machine_id,
            model_type=row.model_type,
            model_a_id=row.model_a_id,
            model_b_id=row.model_b_id,
            traffic_split=row.traffic_split,
            status=row.status,
            started_at=row.started_at,
            ends_at=row.ends_at,
            finished_at=row.finished_at,
            started_by=row.started_by,
            min_samples=row.min_samples,
            significance=row.significance,
            sequential=row.sequential,
            planned_samples=row.planned_samples,
            results=AbTestResults.from_results(row.results or {}, row.winner),
        )


@strawberry.type(description="Two versions of one series scored on the same readings with a paired test.")
class VersionComparison:
    model_a: ModelVersion
    model_b: ModelVersion
    window_start: datetime | None = strawberry.field(description="First reading compared; null when none could be.")
    window_end: datetime | None
    results: AbTestResults

    @classmethod
    def from_comparison(cls, comparison: ShadowComparison) -> VersionComparison:
        return cls(
            model_a=ModelVersion.from_row(comparison.model_a),
            model_b=ModelVersion.from_row(comparison.model_b),
            window_start=comparison.window_start,
            window_end=comparison.window_end,
            results=AbTestResults.from_results(comparison.decision.as_dict(), comparison.decision.winner),
        )
