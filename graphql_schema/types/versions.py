from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app.db import tables
from graphql_schema.engine.context import Info
from graphql_schema.enums import ModelType, VersionStage
from graphql_schema.types.performance import PerformanceMetrics


@strawberry.type
class ModelVersion:
    id: uuid.UUID
    machine_id: uuid.UUID
    model_type: ModelType
    version: int
    stage: VersionStage
    created_at: datetime
    training_job_id: uuid.UUID | None
    trained_from: datetime
    trained_to: datetime
    training_rows: int
    features: list[str]
    hyperparameters: JSON

    @strawberry.field
    async def validation_metrics(self, info: Info) -> PerformanceMetrics | None:
        row = await info.context.loaders.validation_metrics.load(self.id)
        return PerformanceMetrics.from_row(row) if row else None

    @classmethod
    def from_row(cls, row: tables.ModelVersion) -> ModelVersion:
        return cls(
            id=row.id,
            machine_id=row.machine_id,
            model_type=row.model_type,
            version=row.version,
            stage=row.stage,
            created_at=row.created_at,
            training_job_id=row.training_job_id,
            trained_from=row.trained_from,
            trained_to=row.trained_to,
            training_rows=row.training_rows,
            features=list(row.features),
            hyperparameters=JSON(row.hyperparameters),
        )
