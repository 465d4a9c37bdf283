"""Root query: each resolver opens a short read session and calls one service function."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from app import enums
from app.services.alerting import alerts
from app.services.experiments import abtests, comparisons
from app.services.fleet import machines
from app.services.models import jobs
from app.services.savings import savings
from app.services.tracking import health as fleet_health
from app.services.tracking import monitoring, performance
from graphql_schema.arguments import list_limit, or_default
from graphql_schema.engine.context import Info
from graphql_schema.enums import AbTestStatus, AlertStatus, FleetOrder, Health, JobStatus, ModelType, Severity
from graphql_schema.types.abtests import AbTest, ShadowMethod, VersionComparison
from graphql_schema.types.alerts import Alert
from graphql_schema.types.drift import DriftReport
from graphql_schema.types.fleet import FleetPage
from graphql_schema.types.jobs import TrainingJob
from graphql_schema.types.machine import Machine, ModelSeries
from graphql_schema.types.performance import PerformanceMetrics
from graphql_schema.types.savings import SavingsReport
from graphql_schema.types.trend import load_trend
from graphql_schema.types.versions import ModelVersion


@strawberry.type
class Query:
    @strawberry.field
    async def machines(self, info: Info) -> list[Machine]:
        rows = await machines.list_all(info.context.read_engine)
        return [Machine(id=row.id, name=row.name, created_at=row.created_at) for row in rows]

    @strawberry.field(
        description="The fleet page: machines with their series, worst health first (or by name), filtered by "
        "health and name, a page at a time. Health counts cover the whole fleet."
    )
    async def fleet(
        self,
        info: Info,
        health: list[Health] | None = None,
        name_contains: str | None = None,
        order: FleetOrder | None = FleetOrder.WORST_FIRST,
        offset: int | None = 0,
        first: int | None = 25,
    ) -> FleetPage:
        start, size = or_default(offset, 0), list_limit(info, first, 25)
        async with info.context.read() as session:
            page = await fleet_health.fleet_page(
                info.context.read_engine,
                session,
                healths=health,
                name_contains=name_contains,
                order=order or FleetOrder.WORST_FIRST,
                offset=start,
                limit=size,
            )
        return FleetPage.from_page(page, start)

    @strawberry.field
    async def machine(self, info: Info, id: uuid.UUID) -> Machine | None:
        row = await info.context.loaders.machine.load(id)
        return Machine.from_row(row) if row else None

    @strawberry.field
    async def model_series(self, info: Info, machine_id: uuid.UUID, model_type: ModelType) -> ModelSeries | None:
        if await info.context.loaders.machine.load(machine_id) is None:
            return None
        return ModelSeries(machine_id=machine_id, model_type=model_type)

    @strawberry.field
    async def model_version(self, info: Info, id: uuid.UUID) -> ModelVersion | None:
        row = await info.context.loaders.version.load(id)
        return ModelVersion.from_row(row) if row else None

    @strawberry.field
    async def performance_trend(
        self, info: Info, machine_id: uuid.UUID, model_type: ModelType, days: int | None = 30
    ) -> list[PerformanceMetrics]:
        return await load_trend(info, machine_id, model_type, or_default(days, 30))

    @strawberry.field
    async def latest_performance(
        self, info: Info, machine_id: uuid.UUID | None = None, model_type: ModelType | None = None
    ) -> list[PerformanceMetrics]:
        async with info.context.read() as session:
            rows = await performance.latest(session, machine_id, model_type)
        return [PerformanceMetrics.from_row(row) for row in rows]

    @strawberry.field
    async def training_job(self, info: Info, id: uuid.UUID) -> TrainingJob | None:
        async with info.context.read() as session:
            row = await jobs.get(session, id)
        return TrainingJob.from_row(row) if row else None

    @strawberry.field
    async def training_jobs(
        self,
        info: Info,
        machine_id: uuid.UUID | None = None,
        model_type: ModelType | None = None,
        status: list[JobStatus] | None = None,
        limit: int | None = 50,
    ) -> list[TrainingJob]:
        async with info.context.read() as session:
            rows = await jobs.list_jobs(
                session,
                machine_id=machine_id,
                model_type=model_type,
                statuses=status,
                limit=list_limit(info, limit, 50),
            )
        return [TrainingJob.from_row(row) for row in rows]

    @strawberry.field(description="Unresolved alerts (open or acknowledged), critical first.")
    async def active_alerts(
        self, info: Info, machine_id: uuid.UUID | None = None, model_type: ModelType | None = None
    ) -> list[Alert]:
        max_limit = info.context.resources.settings.max_list_limit
        async with info.context.read() as session:
            rows = await alerts.list_alerts(
                session,
                statuses=enums.UNRESOLVED_ALERT_STATUSES,
                machine_id=machine_id,
                model_type=model_type,
                limit=max_limit,
                max_limit=max_limit,
            )
        return [Alert.from_row(row) for row in rows]

    @strawberry.field
    async def alerts(
        self,
        info: Info,
        status: list[AlertStatus] | None = None,
        machine_id: uuid.UUID | None = None,
        model_type: ModelType | None = None,
        min_severity: Severity | None = None,
        limit: int | None = 100,
    ) -> list[Alert]:
        async with info.context.read() as session:
            rows = await alerts.list_alerts(
                session,
                statuses=status,
                machine_id=machine_id,
                model_type=model_type,
                min_severity=min_severity,
                limit=list_limit(info, limit, 100),
                max_limit=info.context.resources.settings.max_list_limit,
            )
        return [Alert.from_row(row) for row in rows]

    @strawberry.field
    async def drift_reports(
        self, info: Info, machine_id: uuid.UUID, model_type: ModelType, limit: int | None = 20
    ) -> list[DriftReport]:
        async with info.context.read() as session:
            rows = await monitoring.drift_reports(session, machine_id, model_type, list_limit(info, limit, 20))
        return [DriftReport.from_row(row) for row in rows]

    @strawberry.field
    async def ab_test(self, info: Info, id: uuid.UUID) -> AbTest | None:
        async with info.context.read() as session:
            row = await abtests.get(session, id)
        return AbTest.from_row(row) if row else None

    @strawberry.field
    async def ab_tests(self, info: Info, status: list[AbTestStatus] | None = None) -> list[AbTest]:
        async with info.context.read() as session:
            rows = await abtests.list_tests(session, status, info.context.resources.settings.max_list_limit)
        return [AbTest.from_row(row) for row in rows]

    @strawberry.field(
        description="Shadow comparison: both versions predict the same readings after their training windows "
        "(the newest windowDays), compared with a paired test; see docs/ab-testing.md."
    )
    async def compare_versions(
        self,
        info: Info,
        model_a_id: uuid.UUID,
        model_b_id: uuid.UUID,
        window_days: int | None = 14,
        method: ShadowMethod | None = ShadowMethod.DIEBOLD_MARIANO,
        significance: float | None = 0.05,
        min_samples: int | None = 30,
    ) -> VersionComparison:
        async with info.context.read() as session:
            comparison = await comparisons.compare_versions(
                session,
                model_a_id,
                model_b_id,
                window_days=or_default(window_days, 14),
                method=(method or ShadowMethod.DIEBOLD_MARIANO).value,
                significance=0.05 if significance is None else significance,
                min_samples=or_default(min_samples, 30),
            )
        return VersionComparison.from_comparison(comparison)

    @strawberry.field(
        description="Avoided energy use since an intervention, measured against the baseline frozen before it "
        "(IPMVP Option C); see docs/savings.md."
    )
    async def savings(
        self,
        info: Info,
        machine_id: uuid.UUID,
        intervention_id: uuid.UUID | None = None,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        confidence: float | None = 0.9,
    ) -> SavingsReport:
        async with info.context.read() as session:
            report = await savings.report(
                session, machine_id, intervention_id, from_, to, 0.9 if confidence is None else confidence
            )
        return SavingsReport.from_report(report)
