from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from app.db import tables
from graphql_schema.engine.context import Info
from graphql_schema.enums import JobStatus, ModelType, TriggerType
from graphql_schema.types.versions import ModelVersion


@strawberry.type
class TrainingJob:
    id: uuid.UUID
    machine_id: uuid.UUID
    model_type: ModelType
    trigger_type: TriggerType
    reason: str | None
    status: JobStatus
    progress: float = strawberry.field(description="0.0 to 1.0")
    progress_step: str | None = strawberry.field(description="The step running now (load data, fit, validate, …).")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    error_message: str | None
    model_version_id: strawberry.Private[uuid.UUID | None]
    improvement: float | None = strawberry.field(
        description="Relative change of the primary error metric against the champion it was compared with; "
        "negative is better."
    )
    requested_by: str | None
    train_from: datetime | None = strawberry.field(
        description="Start of the training window when set explicitly (re-learning from a change on)."
    )
    train_to: datetime | None = strawberry.field(
        description="End (exclusive) of the training window when set explicitly (a baseline before an intervention)."
    )

    @strawberry.field
    async def model_version(self, info: Info) -> ModelVersion | None:
        if self.model_version_id is None:
            return None
        row = await info.context.loaders.version.load(self.model_version_id)
        return ModelVersion.from_row(row) if row else None

    @classmethod
    def from_row(cls, row: tables.TrainingJob) -> TrainingJob:
        return cls(
            id=row.id,
            machine_id=row.machine_id,
            model_type=row.model_type,
            trigger_type=row.trigger_type,
            reason=row.reason,
            status=row.status,
            progress=row.progress,
            progress_step=row.progress_step,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration_seconds=row.duration_seconds,
            error_message=row.error_message,
            model_version_id=row.model_version_id,
            improvement=row.improvement,
            requested_by=row.requested_by,
            train_from=row.train_from,
            train_to=row.train_to,
        )


@strawberry.type
class TriggerRetrainResult:
    triggered: bool
    reason: str | None
    job: TrainingJob | None = strawberry.field(
        description="The new job, or the job already in progress when triggered is false."
    )
