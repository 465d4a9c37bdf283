"""Small result types of mutations."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from graphql_schema.enums import Role


@strawberry.type
class IngestResult:
    machine_id: uuid.UUID
    inserted: int
    updated: int


@strawberry.type
class Prediction:
    timestamp: datetime
    value: float
    model_version_id: uuid.UUID
    arm: str | None = strawberry.field(description="A or B when an A/B test routed this prediction, else null.")


@strawberry.type
class NewApiToken:
    id: uuid.UUID
    name: str
    role: Role
    token: str = strawberry.field(description="Shown once; only a hash is stored.")
