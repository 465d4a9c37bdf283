from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app.db import tables
from graphql_schema.enums import AlertStatus, AlertType, ModelType, Severity


@strawberry.type
class Alert:
    id: uuid.UUID
    machine_id: uuid.UUID
    model_type: ModelType
    alert_type: AlertType
    severity: Severity
    status: AlertStatus
    message: str
    details: JSON
    created_at: datetime
    last_seen_at: datetime = strawberry.field(description="When the condition was last detected.")
    occurrences: int = strawberry.field(description="How many detections were folded into this alert.")
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None
    auto_action: str | None = strawberry.field(
        description="What the system did on its own, e.g. the retraining job it started."
    )
    training_job_id: uuid.UUID | None

    @classmethod
    def from_row(cls, row: tables.Alert) -> Alert:
        return cls(
            id=row.id,
            machine_id=row.machine_id,
            model_type=row.model_type,
            alert_type=row.alert_type,
            severity=row.severity,
            status=row.status,
            message=row.message,
            details=JSON(row.details),
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            occurrences=row.occurrences,
            acknowledged_at=row.acknowledged_at,
            acknowledged_by=row.acknowledged_by,
            resolved_at=row.resolved_at,
            resolved_by=row.resolved_by,
            resolution_note=row.resolution_note,
            auto_action=row.auto_action,
            training_job_id=row.training_job_id,
        )
