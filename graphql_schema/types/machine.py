from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import strawberry

from app import enums
from app.db import tables
from app.services.tracking.health import MachineOverview, SeriesOverview, machine_health, series_health
from graphql_schema.arguments import list_limit, or_default
from graphql_schema.engine.context import Info
from graphql_schema.enums import Health, ModelType
from graphql_schema.types.abtests import AbTest
from graphql_schema.types.alerts import Alert
from graphql_schema.types.champions import ChampionChange
from graphql_schema.types.jobs import TrainingJob
from graphql_schema.types.performance import PerformanceMetrics
from graphql_schema.types.policies import MonitoringPolicy
from graphql_schema.types.savings import Intervention
from graphql_schema.types.trend import load_trend
from graphql_schema.types.versions import ModelVersion

Loaded = TypeVar("Loaded")
Answer = TypeVar("Answer")


@strawberry.type
class Machine:
    id: uuid.UUID
    name: str
    created_at: datetime
    #: Set by the fleet page, which read what its nested fields show beforehand: they answer without awaiting.
    overview: strawberry.Private[MachineOverview | None] = None

    @strawberry.field(graphql_type=int)
    def readings_count(self, info: Info) -> int | Awaitable[int]:
        if self.overview is not None:
            return self.overview.readings.count
        return _then(info.context.loaders.reading_stats.load(self.id), lambda stats: stats.count)

    @strawberry.field(graphql_type=datetime | None)
    def first_reading_at(self, info: Info) -> datetime | None | Awaitable[datetime | None]:
        if self.overview is not None:
            return self.overview.readings.first_at
        return _then(info.context.loaders.reading_stats.load(self.id), lambda stats: stats.first_at)

    @strawberry.field(graphql_type=datetime | None)
    def last_reading_at(self, info: Info) -> datetime | None | Awaitable[datetime | None]:
        if self.overview is not None:
            return self.overview.readings.last_at
        return _then(info.context.loaders.reading_stats.load(self.id), lambda stats: stats.last_at)

    @strawberry.field(
        graphql_type=Health,
        description="The worst health among the machine's series (see ModelSeries.health), or worse for an "
        "unresolved alert about its readings (openAlerts).",
    )
    def health(self, info: Info) -> Health | Awaitable[Health]:
        if self.overview is not None:
            return self.overview.health
        return self._health(info)

    async def _health(self, info: Info) -> Health:
        series = [ModelSeries(machine_id=self.id, model_type=model_type) for model_type in enums.ModelType]
        healths = await asyncio.gather(*(one._health(info) for one in series))
        readings_alerts = await info.context.loaders.machine_alerts.load(self.id)
        return machine_health(healths, [alert.severity for alert in readings_alerts])

    @strawberry.field(
        description="Recorded changes to the machine (efficiency measures, equipment changes, non-routine events), "
        "newest first."
    )
    async def interventions(self, info: Info) -> list[Intervention]:
        return [Intervention.from_view(view) for view in await info.context.loaders.interventions.load(self.id)]

    @strawberry.field(
        graphql_type=list[Alert],
        description="Unresolved alerts about the machine's readings rather than one of its models (DATA_QUALITY), "
        "most severe first: each appears here once, not among any series' openAlerts.",
    )
    def open_alerts(self, info: Info) -> list[Alert] | Awaitable[list[Alert]]:
        if self.overview is not None:
            return _alerts(self.overview.open_alerts)
        return _then(info.context.loaders.machine_alerts.load(self.id), _alerts)

    @strawberry.field(description="One series per model type, whether or not it has been trained yet.")
    def models(self) -> list[ModelSeries]:
        if self.overview is not None:
            return [
                ModelSeries(machine_id=self.id, model_type=series.model_type, overview=series)
                for series in self.overview.series
            ]
        return [ModelSeries(machine_id=self.id, model_type=model_type) for model_type in enums.ModelType]

    @classmethod
    def from_row(cls, row: tables.Machine) -> Machine:
        return cls(id=row.id, name=row.name, created_at=row.created_at)

    @classmethod
    def from_overview(cls, overview: MachineOverview) -> Machine:
        return cls(id=overview.id, name=overview.name, created_at=overview.created_at, overview=overview)


@strawberry.type(description="One model type on one machine: its versions, champion, jobs, metrics and alerts.")
class ModelSeries:
    machine_id: strawberry.Private[uuid.UUID]
    model_type: ModelType
    #: Set by the fleet page (see ``Machine.overview``).
    overview: strawberry.Private[SeriesOverview | None] = None

    @property
    def key(self) -> tuple[uuid.UUID, enums.ModelType]:
        return (self.machine_id, self.model_type)

    @strawberry.field
    async def machine(self, info: Info) -> Machine:
        return Machine.from_row(await info.context.loaders.machine.load(self.machine_id))

    @strawberry.field(graphql_type=ModelVersion | None)
    def champion(self, info: Info) -> ModelVersion | None | Awaitable[ModelVersion | None]:
        if self.overview is not None:
            return _version(self.overview.champion)
        return _then(info.context.loaders.champion.load(self.key), _version)

    @strawberry.field
    async def versions(self, info: Info, limit: int | None = 50) -> list[ModelVersion]:
        rows = await info.context.loaders.versions.load((*self.key, list_limit(info, limit, 50)))
        return [ModelVersion.from_row(row) for row in rows]

    @strawberry.field(description="Champion changes, newest first: who, when, why, from which version.")
    async def champion_history(self, info: Info, limit: int | None = 20) -> list[ChampionChange]:
        rows = await info.context.loaders.champion_history.load((*self.key, list_limit(info, limit, 20)))
        return [ChampionChange.from_row(row) for row in rows]

    @strawberry.field(graphql_type=PerformanceMetrics | None)
    def latest_performance(self, info: Info) -> PerformanceMetrics | None | Awaitable[PerformanceMetrics | None]:
        if self.overview is not None:
            row, champion = self.overview.latest, self.overview.champion
            if row is None:
                return None
            # The latest row is the champion's, or tied to no version (v_latest_model_performance).
            known = champion.version if champion is not None and row.model_version_id == champion.id else None
            return PerformanceMetrics.from_row(row, known_version=known)
        return _then(info.context.loaders.latest_performance.load(self.key), _metrics)

    @strawberry.field
    async def performance_trend(self, info: Info, days: int | None = 30) -> list[PerformanceMetrics]:
        return await load_trend(info, self.machine_id, self.model_type, or_default(days, 30))

    @strawberry.field
    async def training_jobs(self, info: Info, limit: int | None = 20) -> list[TrainingJob]:
        rows = await info.context.loaders.training_jobs.load((*self.key, list_limit(info, limit, 20)))
        return [TrainingJob.from_row(row) for row in rows]

    @strawberry.field(
        graphql_type=list[Alert],
        description="Unresolved alerts about this model; the machine's readings are Machine.openAlerts.",
    )
    def open_alerts(self, info: Info) -> list[Alert] | Awaitable[list[Alert]]:
        if self.overview is not None:
            return _alerts(self.overview.open_alerts)
        return _then(info.context.loaders.open_alerts.load(self.key), _alerts)

    @strawberry.field
    async def active_ab_test(self, info: Info) -> AbTest | None:
        row = await info.context.loaders.running_ab_test.load(self.key)
        return AbTest.from_row(row) if row else None

    @strawberry.field(graphql_type=MonitoringPolicy)
    def policy(self, info: Info) -> MonitoringPolicy | Awaitable[MonitoringPolicy]:
        if self.overview is not None:
            return MonitoringPolicy.from_policy(self.overview.policy)
        return _then(info.context.loaders.policy.load(self.key), MonitoringPolicy.from_policy)

    @strawberry.field(
        graphql_type=Health,
        description="CRITICAL: a critical alert is unresolved or the latest evaluation is outside the policy "
        "(CV(RMSE), |NMBE|, R²); WARNING: a warning alert is unresolved; NO_DATA: not evaluated yet; else OK. "
        "Data drift counts through its alerts.",
    )
    def health(self, info: Info) -> Health | Awaitable[Health]:
        if self.overview is not None:
            return self.overview.health
        return self._health(info)

    async def _health(self, info: Info) -> Health:
        loaders = info.context.loaders
        latest = await loaders.latest_performance.load(self.key)
        policy = await loaders.policy.load(self.key)
        open_alerts = await loaders.open_alerts.load(self.key)
        return series_health(latest, policy.settings, [alert.severity for alert in open_alerts])


def _version(row: tables.ModelVersion | None) -> ModelVersion | None:
    return ModelVersion.from_row(row) if row else None


def _metrics(row: tables.PerformanceMetrics | None) -> PerformanceMetrics | None:
    return PerformanceMetrics.from_row(row) if row else None


def _alerts(rows: list[tables.Alert]) -> list[Alert]:
    return [Alert.from_row(row) for row in rows]


async def _then(pending: Awaitable[Loaded], answer: Callable[[Loaded], Answer]) -> Answer:
    """What a field answers from a DataLoader's value, once loaded.

    Fields answer synchronously when the fleet page read their values beforehand: graphql-core then
    completes the whole subtree without a coroutine, future or task per field, which cost most of a
    large fleet page's time. Otherwise they return this awaitable, which graphql-core awaits.
    """
    return answer(await pending)
