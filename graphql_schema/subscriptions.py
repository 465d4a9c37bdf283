"""Root subscription."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from graphql_schema.context import Info
from graphql_schema.enums import ModelType, Severity
from graphql_schema.types.alerts import Alert
from graphql_schema.types.jobs import TrainingJob
from graphql_schema.unavailable import not_available


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every status or progress change of matching jobs, in order, ending with the terminal status."
    )
    async def training_job_updates(
        self,
        info: Info,
        job_id: uuid.UUID | None = None,
        machine_id: uuid.UUID | None = None,
        model_type: ModelType | None = None,
    ) -> AsyncGenerator[TrainingJob, None]:
        raise not_available("Subscription.trainingJobUpdates")

    @strawberry.subscription(
        description=(
            "New alerts. With since, alerts created after that instant are replayed first, then live ones follow."
        )
    )
    async def alert_raised(
        self,
        info: Info,
        machine_id: uuid.UUID | None = None,
        model_type: ModelType | None = None,
        min_severity: Severity | None = None,
        since: datetime | None = None,
    ) -> AsyncGenerator[Alert, None]:
        raise not_available("Subscription.alertRaised")
