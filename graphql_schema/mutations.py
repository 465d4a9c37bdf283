"""Root mutation: parse, call one service function in one transaction, map the result."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from app.db.tables import METRIC_COLUMNS
from app.enums import TriggerType
from app.errors import InvalidInput
from app.services.alerting import alerts
from app.services.checks import camel_case
from app.services.experiments import abtests, predictions
from app.services.fleet import ingest, machines
from app.services.models import job_lifecycle, registry
from app.services.savings import interventions
from app.services.tracking import monitoring, performance, policies
from graphql_schema.engine.audit_trail import audited_mutation
from graphql_schema.engine.context import Info
from graphql_schema.enums import ModelType
from graphql_schema.inputs import (
    InterventionInput,
    MonitoringPolicyInput,
    PredictionInput,
    ReadingInput,
    RecordMetricsInput,
    StartAbTestInput,
)
from graphql_schema.types.abtests import AbTest
from graphql_schema.types.alerts import Alert
from graphql_schema.types.drift import DriftReport
from graphql_schema.types.jobs import TrainingJob, TriggerRetrainResult
from graphql_schema.types.machine import Machine
from graphql_schema.types.performance import PerformanceMetrics
from graphql_schema.types.policies import MonitoringPolicy
from graphql_schema.types.results import IngestResult, Prediction
from graphql_schema.types.savings import Intervention
from graphql_schema.types.versions import ModelVersion

TRAIN_FROM = (
    "Train only on readings from this instant on (after a change); not in the future, and enough readings must "
    "follow it for the model type."
)


@strawberry.type
class Mutation:
    @audited_mutation()
    async def register_machine(self, info: Info, name: str) -> Machine:
        async with info.context.write() as session:
            return Machine.from_row(await machines.register(session, name))

    @audited_mutation(
        description="Upsert up to the configured batch size of readings in one all-or-nothing transaction."
    )
    async def ingest_readings(self, info: Info, machine_id: uuid.UUID, readings: list[ReadingInput]) -> IngestResult:
        limit = info.context.resources.settings.max_ingest_batch
        if len(readings) > limit:
            raise InvalidInput(
                f"readings holds {len(readings)} items; at most {limit} per call (use `kilowatch import` for files)",
                field="readings",
            )
        rows = [
            (item.timestamp, item.energy_kwh, item.production_units, item.outdoor_temp_c, item.is_anomaly)
            for item in readings
        ]
        latest = ingest.latest_accepted(info.context.resources.settings.future_tolerance_s)
        ingest.check_batch(rows, lambda index: f"readings[{index}]", latest)
        async with info.context.write() as session:
            await machines.require(session, machine_id)
            result = await ingest.upsert_readings(session, machine_id, rows)
        return IngestResult(machine_id=result.machine_id, inserted=result.inserted, updated=result.updated)

    @audited_mutation(description="Record metrics of a model trained and evaluated elsewhere (source EXTERNAL).")
    async def record_metrics(self, info: Info, input: RecordMetricsInput) -> PerformanceMetrics:
        values = {name: getattr(input, name) for name in METRIC_COLUMNS}
        async with info.context.write() as session:
            row = await performance.record_external(
                session,
                machine_id=input.machine_id,
                model_type=input.model_type,
                model_version_id=input.model_version_id,
                window_start=input.window_start,
                window_end=input.window_end,
                sample_count=input.sample_count,
                values=values,
            )
        return PerformanceMetrics.from_row(row)

    @audited_mutation(
        description="Evaluate the champion now: performance, data drift over windowDays, concept drift; stored."
    )
    async def check_drift(
        self, info: Info, machine_id: uuid.UUID, model_type: ModelType, window_days: int | None = 7
    ) -> DriftReport:
        days = 7 if window_days is None else window_days
        report = await monitoring.check_drift(info.context.resources, machine_id, model_type, days)
        return DriftReport.from_row(report)

    @audited_mutation(description="Start retraining a series; answers with the active job when one is running.")
    async def trigger_retrain(
        self,
        info: Info,
        machine_id: uuid.UUID,
        model_type: ModelType,
        reason: str | None = None,
        train_from: Annotated[datetime | None, strawberry.argument(description=TRAIN_FROM)] = None,
    ) -> TriggerRetrainResult:
        outcome = await job_lifecycle.trigger(
            info.context.resources,
            machine_id,
            model_type,
            TriggerType.MANUAL,
            reason,
            info.context.actor,
            train_from=train_from,
        )
        return TriggerRetrainResult(
            triggered=outcome.triggered, reason=outcome.reason, job=TrainingJob.from_row(outcome.job)
        )

    @audited_mutation(
        description="Record a dated change to a machine; freezes the BASELINE trained on data before it "
        "(training one first when the champion saw data from `at` on)."
    )
    async def record_intervention(self, info: Info, input: InterventionInput) -> Intervention:
        view = await interventions.record(
            info.context.resources,
            input.machine_id,
            input.at,
            input.kind,
            input.description,
            info.context.actor,
            write=info.context.write,
        )
        return Intervention.from_view(view)

    @audited_mutation(
        description="Cancel a job: a pending one at once; a running one is interrupted and ends CANCELLED."
    )
    async def cancel_training_job(self, info: Info, id: uuid.UUID) -> TrainingJob:
        return TrainingJob.from_row(await job_lifecycle.cancel(info.context.resources, id))

    @audited_mutation(description="Make any version the champion of its series; promoting an older one rolls back.")
    async def promote_model_version(self, info: Info, id: uuid.UUID, reason: str | None = None) -> ModelVersion:
        async with info.context.write() as session:
            return ModelVersion.from_row(await registry.promote(session, id, info.context.actor, reason))

    @audited_mutation(description="Start an A/B test between two versions of one series; one running per series.")
    async def start_ab_test(self, info: Info, input: StartAbTestInput) -> AbTest:
        options = {name: getattr(input, name) for name in abtests.PLAN_OPTIONS}
        plan = abtests.TestPlan(  # an explicit null means the default
            input.model_a_id, input.model_b_id, **{name: value for name, value in options.items() if value is not None}
        )
        async with info.context.write() as session:
            return AbTest.from_row(await abtests.start(session, plan, info.context.actor))

    @audited_mutation(description="End a running A/B test early; it keeps a winner only if one was validly decided.")
    async def stop_ab_test(self, info: Info, id: uuid.UUID) -> AbTest:
        async with info.context.write() as session:
            return AbTest.from_row(await abtests.stop(session, id))

    @audited_mutation(
        description="Predict with the champion, or with the arms of the running A/B test; every prediction is stored."
    )
    async def predict(
        self, info: Info, machine_id: uuid.UUID, model_type: ModelType, inputs: list[PredictionInput]
    ) -> list[Prediction]:
        requests = [
            predictions.PredictionInput(item.timestamp, item.production_units, item.outdoor_temp_c) for item in inputs
        ]
        served = await predictions.serve(info.context.resources, machine_id, model_type, requests)
        return [
            Prediction(timestamp=p.timestamp, value=p.value, model_version_id=p.model_version_id, arm=p.arm)
            for p in served
        ]

    @audited_mutation()
    async def acknowledge_alert(self, info: Info, id: uuid.UUID) -> Alert:
        async with info.context.write() as session:
            return Alert.from_row(await alerts.acknowledge(session, id, info.context.actor))

    @audited_mutation()
    async def resolve_alert(self, info: Info, id: uuid.UUID, note: str | None = None) -> Alert:
        async with info.context.write() as session:
            return Alert.from_row(await alerts.resolve(session, id, note, info.context.actor))

    @audited_mutation(description="Set some or all thresholds of a series; omitted fields keep their value.")
    async def set_monitoring_policy(self, info: Info, input: MonitoringPolicyInput) -> MonitoringPolicy:
        changes = {
            name: getattr(input, name)
            for name in policies.POLICY_FIELDS
            if getattr(input, name) is not strawberry.UNSET
        }
        for name, value in changes.items():
            if value is None and name != "min_r_squared":
                raise InvalidInput(f"{camel_case(name)} cannot be null (omit it to keep the current value)", field=name)
        async with info.context.write() as session:
            policy = await policies.update(session, input.machine_id, input.model_type, changes, info.context.actor)
        return MonitoringPolicy.from_policy(policy)
