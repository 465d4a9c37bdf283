from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from app import tables
from graphql_schema.context import Info
from graphql_schema.enums import AbTestStatus, ModelType
from graphql_schema.types.versions import ModelVersion


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


@strawberry.type
class AbTest:
    id: uuid.UUID
    machine_id: uuid.UUID
    model_type: ModelType
    model_a_id: strawberry.Private[uuid.UUID]
    model_b_id: strawberry.Private[uuid.UUID]
    traffic_split: float
    status: AbTestStatus
    started_at: datetime
    ends_at: datetime
    min_samples: int
    significance: float
    results: AbTestResults

    @strawberry.field
    async def model_a(self, info: Info) -> ModelVersion:
        return ModelVersion.from_row(await info.context.loaders.version.load(self.model_a_id))

    @strawberry.field
    async def model_b(self, info: Info) -> ModelVersion:
        return ModelVersion.from_row(await info.context.loaders.version.load(self.model_b_id))

    @classmethod
    def from_row(cls, row: tables.AbTest) -> AbTest:
        stored = row.results or {}
        results = AbTestResults(
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
            winner=row.winner,
            sample_ratio_mismatch=bool(stored.get("srm_detected", False)),
        )
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
            min_samples=row.min_samples,
            significance=row.significance,
            results=results,
        )
