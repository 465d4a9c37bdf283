from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from app.services.savings.interventions import InterventionView
from app.services.savings.savings import METHOD
from app.services.savings.savings import SavingsReport as Report
from graphql_schema.engine.context import Info
from graphql_schema.enums import InterventionKind
from graphql_schema.types.versions import ModelVersion


@strawberry.type(
    description="A dated change to a machine. Readings before `at` are the baseline period; after it, the "
    "reporting period."
)
class Intervention:
    id: uuid.UUID
    machine_id: uuid.UUID
    at: datetime
    kind: InterventionKind
    description: str
    baseline_version_id: uuid.UUID | None = strawberry.field(
        description="The BASELINE version frozen for savings: the champion trained on data before `at`."
    )
    baseline_job_id: uuid.UUID | None = strawberry.field(
        description="The training job fitting the baseline on data before `at`, when no champion qualified."
    )
    created_at: datetime
    created_by: str | None

    @strawberry.field(description="The frozen baseline version itself (null until it exists).")
    async def baseline_version(self, info: Info) -> ModelVersion | None:
        if self.baseline_version_id is None:
            return None
        row = await info.context.loaders.version.load(self.baseline_version_id)
        return ModelVersion.from_row(row) if row else None

    @classmethod
    def from_view(cls, view: InterventionView) -> Intervention:
        return cls(
            id=view.id,
            machine_id=view.machine_id,
            at=view.at,
            kind=view.kind,
            description=view.description,
            baseline_version_id=view.baseline_version_id,
            baseline_job_id=view.baseline_job_id,
            created_at=view.created_at,
            created_by=view.created_by,
        )


@strawberry.type(description="One point of the cumulative savings curve (CUSUM of expected minus observed).")
class SavingsPoint:
    at: datetime
    observed_kwh: float
    expected_kwh: float
    cumulative_savings_kwh: float
    lower: float = strawberry.field(description="Bounds of the cumulative savings at the report's confidence.")
    upper: float


@strawberry.type
class SavingsReport:
    report: strawberry.Private[Report]
    machine_id: uuid.UUID
    intervention: Intervention | None
    baseline_version_id: uuid.UUID
    period_start: datetime
    period_end: datetime
    sample_count: int
    observed_kwh: float
    expected_kwh: float = strawberry.field(
        description="What the baseline says the machine would have used under the reporting period's conditions."
    )
    savings_kwh: float
    savings_fraction: float = strawberry.field(description="savingsKwh / expectedKwh")
    confidence: float
    uncertainty_kwh: float = strawberry.field(
        description="Half-width of the savings interval at `confidence`, in kWh (ASHRAE Guideline 14 fractional "
        "savings uncertainty, autocorrelation-adjusted)."
    )
    significant: bool = strawberry.field(description="Savings are significant when the interval excludes zero.")
    baseline_version: ModelVersion = strawberry.field(description="The frozen baseline the savings are measured with.")
    excluded_baseline_anomalies: int = strawberry.field(
        description="Baseline-period readings flagged as anomalies, left out of the baseline's fit statistics."
    )
    excluded_reporting_anomalies: int = strawberry.field(
        description="Reporting-period readings flagged as anomalies, left out of both expected and observed."
    )
    unpredictable_readings: int = strawberry.field(
        description="Reporting-period readings left out because a driver the baseline uses was missing."
    )
    baseline_cv_rmse: float = strawberry.field(description="CV(RMSE) of the baseline on its own period (n - p).")
    baseline_autocorrelation: float = strawberry.field(
        description="Lag-1 autocorrelation ρ of the baseline's residuals, used for n' = n(1 - ρ)/(1 + ρ)."
    )
    baseline_sample_count: int = strawberry.field(description="n: baseline-period readings the statistics rest on.")
    effective_baseline_sample_count: float = strawberry.field(description="n' = n(1 - ρ)/(1 + ρ).")
    method: str

    @strawberry.field
    def cumulative(self, max_points: int | None = 500) -> list[SavingsPoint]:
        return [
            SavingsPoint(
                at=point.at,
                observed_kwh=point.observed_kwh,
                expected_kwh=point.expected_kwh,
                cumulative_savings_kwh=point.cumulative_kwh,
                lower=point.lower,
                upper=point.upper,
            )
            for point in self.report.curve(500 if max_points is None else max_points)
        ]

    @classmethod
    def from_report(cls, report: Report) -> SavingsReport:
        totals, fit = report.totals, report.fit
        return cls(
            report=report,
            machine_id=report.machine_id,
            intervention=Intervention.from_view(report.intervention) if report.intervention else None,
            baseline_version_id=report.baseline_version.id,
            period_start=report.period_start,
            period_end=report.period_end,
            sample_count=totals.sample_count,
            observed_kwh=totals.observed_kwh,
            expected_kwh=totals.expected_kwh,
            savings_kwh=totals.savings_kwh,
            savings_fraction=totals.savings_fraction,
            confidence=report.confidence,
            uncertainty_kwh=totals.uncertainty_kwh,
            significant=totals.significant,
            baseline_version=ModelVersion.from_row(report.baseline_version),
            excluded_baseline_anomalies=report.excluded_baseline_anomalies,
            excluded_reporting_anomalies=report.excluded_reporting_anomalies,
            unpredictable_readings=report.unpredictable_readings,
            baseline_cv_rmse=fit.cv_rmse,
            baseline_autocorrelation=fit.rho,
            baseline_sample_count=fit.residual_count,
            effective_baseline_sample_count=fit.effective_count,
            method=METHOD,
        )
