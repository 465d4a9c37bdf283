from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from app import enums
from app.db import tables
from graphql_schema.arguments import list_limit, or_default
from graphql_schema.engine.context import Info
from graphql_schema.enums import ModelType
from graphql_schema.types.abtests import AbTest
from graphql_schema.types.alerts import Alert
from graphql_schema.types.champions import ChampionChange
from graphql_schema.types.jobs import TrainingJob
from graphql_schema.types.performance import PerformanceMetrics
from graphql_schema.types.policies import MonitoringPolicy
from graphql_schema.types.savings import Intervention
from graphql_schema.types.trend import load_trend
from graphql_schema.types.versions import ModelVersion


@strawberry.type
class Machine:
    id: uuid.UUID
    name: str
    created_at: datetime

    @strawberry.field
    async def readings_count(self, info: Info) -> int:
        return (await info.context.loaders.reading_stats.load(self.id)).count

    @strawberry.field
    async def first_reading_at(self, info: Info) -> datetime | None:
        return (await info.context.loaders.reading_stats.load(self.id)).first_at

    @strawberry.field
    async def last_reading_at(self, info: Info) -> datetime | None:
        return (await info.context.loaders.reading_stats.load(self.id)).last_at

    @strawberry.field(
        description="Recorded changes to the machine (efficiency measures, equipment changes, non-routine events), "
        "newest first."
    )
    async def interventions(self, info: Info) -> list[Intervention]:
        return [Intervention.from_view(view) for view in await info.context.loaders.interventions.load(self.id)]

    @strawberry.field(
        description="Unresolved alerts about the machine's readings rather than one of its models (DATA_QUALITY), "
        "most severe first: each appears here once, not among any series' openAlerts."
    )
    async def open_alerts(self, info: Info) -> list[Alert]:
        return [Alert.from_row(row) for row in await info.context.loaders.machine_alerts.load(self.id)]

    @strawberry.field(description="One series per model type, whether or not it has been trained yet.")
    def models(self) -> list[ModelSeries]:
        return [ModelSeries(machine_id=self.id, model_type=model_type) for model_type in enums.ModelType]

    @classmethod
    def from_row(cls, row: tables.Machine) -> Machine:
        return cls(id=row.id, name=row.name, created_at=row.created_at)


@strawberry.type(description="One model type on one machine: its versions, champion, jobs, metrics and alerts.")
class ModelSeries:
    machine_id: strawberry.Private[uuid.UUID]
    model_type: ModelType

    @property
    def key(self) -> tuple[uuid.UUID, enums.ModelType]:
        return (self.machine_id, self.model_type)

    @strawberry.field
    async def machine(self, info: Info) -> Machine:
        return Machine.from_row(await info.context.loaders.machine.load(self.machine_id))

    @strawberry.field
    async def champion(self, info: Info) -> ModelVersion | None:
        row = await info.context.loaders.champion.load(self.key)
        return ModelVersion.from_row(row) if row else None

    @strawberry.field
    async def versions(self, info: Info, limit: int | None = 50) -> list[ModelVersion]:
        rows = await info.context.loaders.versions.load((*self.key, list_limit(info, limit, 50)))
        return [ModelVersion.from_row(row) for row in rows]

    @strawberry.field(description="Champion changes, newest first: who, when, why, from which version.")
    async def champion_history(self, info: Info, limit: int | None = 20) -> list[ChampionChange]:
        rows = await info.context.loaders.champion_history.load((*self.key, list_limit(info, limit, 20)))
        return [ChampionChange.from_row(row) for row in rows]

    @strawberry.field
    async def latest_performance(self, info: Info) -> PerformanceMetrics | None:
        row = await info.context.loaders.latest_performance.load(self.key)
        return PerformanceMetrics.from_row(row) if row else None

    @strawberry.field
    async def performance_trend(self, info: Info, days: int | None = 30) -> list[PerformanceMetrics]:
        return await load_trend(info, self.machine_id, self.model_type, or_default(days, 30))

    @strawberry.field
    async def training_jobs(self, info: Info, limit: int | None = 20) -> list[TrainingJob]:
        rows = await info.context.loaders.training_jobs.load((*self.key, list_limit(info, limit, 20)))
        return [TrainingJob.from_row(row) for row in rows]

    @strawberry.field(description="Unresolved alerts about this model; the machine's readings are Machine.openAlerts.")
    async def open_alerts(self, info: Info) -> list[Alert]:
        return [Alert.from_row(row) for row in await info.context.loaders.open_alerts.load(self.key)]

    @strawberry.field
    async def active_ab_test(self, info: Info) -> AbTest | None:
        row = await info.context.loaders.running_ab_test.load(self.key)
        return AbTest.from_row(row) if row else None

    @strawberry.field
    async def policy(self, info: Info) -> MonitoringPolicy:
        return MonitoringPolicy.from_policy(await info.context.loaders.policy.load(self.key))
