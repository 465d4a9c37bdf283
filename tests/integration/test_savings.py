"""Interventions and savings end to end: frozen baselines, avoided energy with its interval, and what
an intervention changes in monitoring and retraining."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from app.db.tables import AuditEntry
from app.enums import ModelType
from app.ml.synthetic import DEMO_FLEET, LevelShift, generate_readings
from app.runtime.resources import Resources
from app.services.access import audit
from app.services.tracking import relearning
from tests.integration.test_training import trigger, wait_for_terminal
from tests.seeding import ingest_frame, machine_with_frame
from tests.support import data_of, error_of, graphql

START = pd.Timestamp("2025-06-02", tz="UTC")
RECORD = """mutation($input: InterventionInput!) { recordIntervention(input: $input) {
  id at kind description baselineVersionId baselineJobId createdBy baselineVersion { version trainedTo } } }"""
SAVINGS = """query($m: UUID!, $i: UUID, $c: Float, $p: Int) {
  savings(machineId: $m, interventionId: $i, confidence: $c) {
    baselineVersionId periodStart periodEnd sampleCount observedKwh expectedKwh savingsKwh savingsFraction
    confidence uncertaintyKwh significant excludedBaselineAnomalies excludedReportingAnomalies
    baselineAutocorrelation effectiveBaselineSampleCount intervention { id kind }
    cumulative(maxPoints: $p) { at observedKwh expectedKwh cumulativeSavingsKwh lower upper } } }"""
INTERVENTIONS = "query($m: UUID!) { machine(id: $m) { interventions { id kind at baselineVersionId } } }"
RETRAIN_FROM = """mutation($m: UUID!, $t: ModelType!, $f: DateTime) {
  triggerRetrain(machineId: $m, modelType: $t, trainFrom: $f) { triggered job { id trainFrom } } }"""
VERSION = "query($id: UUID!) { modelVersion(id: $id) { trainedFrom trainedTo stage } }"


def press(days: int, seed: int, saving: float = 0.0, at: pd.Timestamp | None = None) -> pd.DataFrame:
    shift = LevelShift(at, -saving) if at is not None else None
    return generate_readings(DEMO_FLEET[0], START, days, seed=seed, level_shift=shift)


async def record(
    client: httpx.AsyncClient, machine_id: uuid.UUID, at: pd.Timestamp, kind: str = "EFFICIENCY_MEASURE"
) -> dict[str, Any]:
    variables = {"input": {"machineId": str(machine_id), "at": at.isoformat(), "kind": kind, "description": "LED"}}
    return data_of(await graphql(client, RECORD, variables))["recordIntervention"]


async def measured(
    client: httpx.AsyncClient, resources: Resources, name: str, frame: pd.DataFrame, at: pd.Timestamp
) -> tuple[uuid.UUID, dict[str, Any]]:
    """A baseline champion trained on the readings before ``at``, then the rest, then the intervention."""
    machine_id = await machine_with_frame(resources, name, frame.loc[frame.index < at])
    job = await wait_for_terminal(client, (await trigger(client, machine_id))["job"]["id"])
    assert job["status"] == "COMPLETED", job["errorMessage"]
    await ingest_frame(resources, machine_id, frame.loc[frame.index >= at])
    return machine_id, await record(client, machine_id, at)


async def savings(client: httpx.AsyncClient, machine_id: uuid.UUID, **variables: Any) -> dict[str, Any]:
    return data_of(await graphql(client, SAVINGS, {"m": str(machine_id), **variables}))["savings"]


async def test_a_known_saving_is_found_within_a_point_and_inside_its_interval(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    at = START + pd.Timedelta(days=245)
    frame = press(365, seed=21, saving=0.08, at=at)
    machine_id, intervention = await measured(client, resources, "press", frame, at)
    counterfactual = press(365, seed=21)

    report = await savings(client, machine_id, p=40)

    truth_kwh = 0.08 * counterfactual.loc[counterfactual.index >= at, "energy_kwh"].sum()
    assert intervention["baselineVersionId"] and intervention["baselineJobId"] is None
    assert report["baselineVersionId"] == intervention["baselineVersionId"]
    assert report["intervention"]["id"] == intervention["id"]
    assert abs(report["savingsFraction"] - 0.08) <= 0.01
    assert abs(report["savingsKwh"] - truth_kwh) <= report["uncertaintyKwh"]
    assert report["significant"] and report["sampleCount"] == 120 * 24
    assert 0.0 < report["baselineAutocorrelation"] < 1.0
    curve = report["cumulative"]
    assert 1 < len(curve) <= 40
    assert abs(curve[-1]["cumulativeSavingsKwh"] - report["savingsKwh"]) < 1e-6 * report["expectedKwh"]
    assert all(point["lower"] <= point["cumulativeSavingsKwh"] <= point["upper"] for point in curve)
    widths = [point["upper"] - point["lower"] for point in curve]
    assert widths == sorted(widths)  # more reporting data, more accumulated uncertainty in kWh
    listed = data_of(await graphql(client, INTERVENTIONS, {"m": str(machine_id)}))["machine"]["interventions"]
    assert [item["id"] for item in listed] == [intervention["id"]]


async def test_no_saving_is_not_significant_and_anomalies_are_left_out(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    at = START + pd.Timedelta(days=245)
    frame = press(365, seed=22)
    frame.loc[frame.index[-30:-20], "is_anomaly"] = True
    frame.loc[frame.index[-30:-20], "energy_kwh"] *= 3.0
    machine_id, _ = await measured(client, resources, "press", frame, at)

    report = await savings(client, machine_id, c=0.9)

    assert not report["significant"], report
    assert abs(report["savingsKwh"]) <= report["uncertaintyKwh"]
    assert report["excludedReportingAnomalies"] == 10 and report["sampleCount"] == 120 * 24 - 10


async def test_a_champion_that_saw_the_reporting_period_makes_way_for_a_baseline_fitted_before_it(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    at = START + pd.Timedelta(days=70)
    frame = press(90, seed=23, saving=0.1, at=at)
    machine_id = await machine_with_frame(resources, "press", frame)
    first = await wait_for_terminal(client, (await trigger(client, machine_id))["job"]["id"])

    intervention = await record(client, machine_id, at)
    job = await wait_for_terminal(client, intervention["baselineJobId"])
    listed = data_of(await graphql(client, INTERVENTIONS, {"m": str(machine_id)}))["machine"]["interventions"]
    frozen = data_of(await graphql(client, VERSION, {"id": listed[0]["baselineVersionId"]}))["modelVersion"]
    report = await savings(client, machine_id)

    assert intervention["baselineVersionId"] is None and job["status"] == "COMPLETED", job
    assert listed[0]["baselineVersionId"] == job["modelVersion"]["id"]
    assert datetime.fromisoformat(frozen["trainedTo"]) < at.to_pydatetime()
    assert frozen["stage"] == "CANDIDATE"  # measuring savings never replaces the live champion
    assert first["modelVersion"]["stage"] == "CHAMPION"
    assert report["baselineVersionId"] == job["modelVersion"]["id"]
    assert abs(report["savingsFraction"] - 0.1) <= 0.02


async def test_after_an_efficiency_measure_the_baseline_is_not_called_degraded(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    at = START + pd.Timedelta(days=62)
    frame = generate_readings(DEMO_FLEET[2], START, 80, seed=12, level_shift=LevelShift(at, -0.15))
    machine_id, _ = await measured(client, resources, "compressor", frame, at)

    report = data_of(
        await graphql(
            client,
            """mutation($m: UUID!) { checkDrift(machineId: $m, modelType: BASELINE, windowDays: 7) {
              concept { detected } features { feature } } }""",
            {"m": str(machine_id)},
        )
    )["checkDrift"]
    alerts = data_of(
        await graphql(client, "query($m: UUID) { activeAlerts(machineId: $m) { alertType } }", {"m": str(machine_id)})
    )["activeAlerts"]

    assert not report["concept"]["detected"]
    assert "DEGRADATION" not in {alert["alertType"] for alert in alerts}
    assert {feature["feature"] for feature in report["features"]} == {"production_units"}  # drivers still watched


async def test_train_from_learns_only_after_the_change_and_is_validated(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    at = START + pd.Timedelta(days=40)
    machine_id = await machine_with_frame(resources, "press", press(90, seed=24, saving=0.2, at=at))

    started = data_of(await graphql(client, RETRAIN_FROM, {"m": str(machine_id), "t": "ANOMALY", "f": at.isoformat()}))[
        "triggerRetrain"
    ]
    job = await wait_for_terminal(client, started["job"]["id"])
    version = data_of(await graphql(client, VERSION, {"id": job["modelVersion"]["id"]}))["modelVersion"]
    future = datetime.now(UTC) + timedelta(days=1)
    too_late = START + pd.Timedelta(days=85)

    assert job["status"] == "COMPLETED", job["errorMessage"]
    assert datetime.fromisoformat(started["job"]["trainFrom"]) == at.to_pydatetime()
    assert datetime.fromisoformat(version["trainedFrom"]) == at.to_pydatetime()
    for when in (future.isoformat(), too_late.isoformat()):
        result = await graphql(client, RETRAIN_FROM, {"m": str(machine_id), "t": "BASELINE", "f": when})
        assert error_of(result, "BAD_USER_INPUT")["extensions"]["field"] == "trainFrom"


async def test_an_equipment_change_relearns_the_forecasts_once_enough_data_follows(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    at = START + pd.Timedelta(days=45)
    frame = press(90, seed=25, saving=0.1, at=at)
    machine_id = await machine_with_frame(resources, "press", frame.loc[frame.index < at])
    job = await wait_for_terminal(client, (await trigger(client, machine_id, "FORECAST_ARIMA"))["job"]["id"])
    assert job["status"] == "COMPLETED", job["errorMessage"]
    await graphql(
        client,
        "mutation($m: UUID!) { setMonitoringPolicy(input: {machineId: $m, modelType: FORECAST_ARIMA, "
        "autoRetrain: true}) { autoRetrain } }",
        {"m": str(machine_id)},
    )
    change = await record(client, machine_id, at, kind="EQUIPMENT_CHANGE")
    await wait_for_terminal(client, change["baselineJobId"])  # its savings baseline, fitted on the data before

    await ingest_frame(
        resources, machine_id, frame.loc[(frame.index >= at) & (frame.index < at + pd.Timedelta(days=5))]
    )
    early = await relearning.relearn_after_changes(resources)
    await ingest_frame(resources, machine_id, frame.loc[frame.index >= at + pd.Timedelta(days=5)])
    started = await relearning.relearn_after_changes(resources)
    again = await relearning.relearn_after_changes(resources)

    assert (early, started, again) == (0, 1, 0)
    jobs = data_of(
        await graphql(
            client,
            "query($m: UUID!) { trainingJobs(machineId: $m, modelType: FORECAST_ARIMA) { id trainFrom triggerType } }",
            {"m": str(machine_id)},
        )
    )["trainingJobs"]
    assert datetime.fromisoformat(jobs[0]["trainFrom"]) == at.to_pydatetime()
    assert ModelType.FORECAST_ARIMA in relearning.RELEARNING_TYPES


async def test_bad_requests_are_refused_with_typed_errors(
    client: httpx.AsyncClient, viewer_client: httpx.AsyncClient, resources: Resources
) -> None:
    machine_id = await machine_with_frame(resources, "press", press(20, seed=26))
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    def payload(**changes: Any) -> dict[str, Any]:
        return {
            "input": {
                "machineId": str(machine_id),
                "at": START.isoformat(),
                "kind": "EFFICIENCY_MEASURE",
                "description": "new motors",
                **changes,
            }
        }

    assert error_of(await graphql(viewer_client, RECORD, payload()), "FORBIDDEN")
    assert error_of(await graphql(client, RECORD, payload(at=future)), "BAD_USER_INPUT")
    assert error_of(await graphql(client, RECORD, payload(description="  ")), "BAD_USER_INPUT")
    assert error_of(await graphql(client, RECORD, payload(machineId=str(uuid.uuid4()))), "NOT_FOUND")
    assert error_of(await savings_result(client, machine_id, c=1.5), "BAD_USER_INPUT")
    assert error_of(await savings_result(client, machine_id, i=str(uuid.uuid4())), "NOT_FOUND")
    assert error_of(await savings_result(client, machine_id), "CONFLICT")  # nothing to measure against yet
    listed = data_of(await graphql(client, INTERVENTIONS, {"m": str(machine_id)}))["machine"]["interventions"]
    assert listed == []


async def test_an_intervention_and_its_audit_entry_commit_together_or_not_at_all(
    client: httpx.AsyncClient, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine_id = await machine_with_frame(resources, "press", press(20, seed=27))
    at = START + pd.Timedelta(days=5)  # too little history for a baseline job: the row is the whole change

    async def broken(*_: Any) -> None:
        raise RuntimeError("audit storage broken")

    with monkeypatch.context() as patched:
        patched.setattr(audit, "record", broken)
        error_of(await graphql(client, RECORD, {"input": _input(machine_id, at)}), "INTERNAL")
    assert await _listed(client, machine_id) == []
    assert await _entries(resources, "recordIntervention") == []

    recorded = data_of(await graphql(client, RECORD, {"input": _input(machine_id, at)}))["recordIntervention"]

    assert [item["id"] for item in await _listed(client, machine_id)] == [recorded["id"]]
    entries = await _entries(resources, "recordIntervention")
    assert [(entry.outcome, entry.target_ids) for entry in entries] == [("ok", [str(machine_id), recorded["id"]])]


def _input(machine_id: uuid.UUID, at: pd.Timestamp) -> dict[str, str]:
    return {"machineId": str(machine_id), "at": at.isoformat(), "kind": "EFFICIENCY_MEASURE", "description": "LED"}


async def _listed(client: httpx.AsyncClient, machine_id: uuid.UUID) -> list[dict[str, Any]]:
    return data_of(await graphql(client, INTERVENTIONS, {"m": str(machine_id)}))["machine"]["interventions"]


async def _entries(resources: Resources, operation: str) -> list[AuditEntry]:
    async with resources.sessions() as session:
        return list((await session.scalars(sa.select(AuditEntry).where(AuditEntry.operation == operation))).all())


async def savings_result(client: httpx.AsyncClient, machine_id: uuid.UUID, **variables: Any) -> dict[str, Any]:
    return await graphql(client, SAVINGS, {"m": str(machine_id), **variables})
