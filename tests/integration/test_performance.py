from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.db.engine import transaction
from app.db.tables import PerformanceMetrics
from app.enums import MetricsSource, ModelType
from app.runtime.resources import Resources
from tests.support import data_of, error_of, graphql

RECORD = """mutation($input: RecordMetricsInput!) { recordMetrics(input: $input) {
  id machineId modelType source sampleCount rSquared cvRmse nmbe mape driftDetected modelVersionId modelVersion } }"""
TREND = """query($id: UUID!, $type: ModelType!, $days: Int) {
  performanceTrend(machineId: $id, modelType: $type, days: $days) {
    evaluatedAt sampleCount cvRmse driftDetected driftScore } }"""


async def _machine(client: httpx.AsyncClient, name: str) -> str:
    result = await graphql(client, "mutation($n: String!) { registerMachine(name: $n) { id } }", {"n": name})
    return data_of(result)["registerMachine"]["id"]


async def test_record_external_metrics(client: httpx.AsyncClient) -> None:
    machine_id = await _machine(client, "Boiler")
    payload = {
        "machineId": machine_id,
        "modelType": "BASELINE",
        "sampleCount": 720,
        "rSquared": 0.91,
        "cvRmse": 0.12,
        "nmbe": -0.004,
        "mape": 0.08,
        "windowStart": "2026-01-01T00:00:00Z",
        "windowEnd": "2026-01-31T00:00:00Z",
    }

    row = data_of(await graphql(client, RECORD, {"input": payload}))["recordMetrics"]

    assert row["source"] == "EXTERNAL" and row["modelType"] == "BASELINE"
    assert (row["sampleCount"], row["rSquared"], row["cvRmse"], row["nmbe"]) == (720, 0.91, 0.12, -0.004)
    assert row["driftDetected"] is False and row["modelVersionId"] is None and row["modelVersion"] is None
    latest = data_of(await graphql(client, "{ latestPerformance { id } }"))["latestPerformance"]
    assert [item["id"] for item in latest] == [row["id"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sampleCount": -1}, "sampleCount"),
        ({"rSquared": 1.5}, "rSquared"),
        ({"cvRmse": -0.1}, "cvRmse"),
        ({"f1": 1.2}, "f1"),
        ({"windowStart": "2026-02-01T00:00:00Z", "windowEnd": "2026-01-01T00:00:00Z"}, "windowStart"),
        ({"windowStart": "2026-02-01T00:00:00"}, "windowStart"),
        ({"modelVersionId": str(uuid.uuid4())}, "modelVersionId"),
    ],
)
async def test_invalid_metrics_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, change: dict[str, object], field: str
) -> None:
    machine_id = await _machine(client, "Kiln")
    payload = {"machineId": machine_id, "modelType": "ANOMALY", "sampleCount": 10, **change}

    result = await graphql(client, RECORD, {"input": payload})

    code = "NOT_FOUND" if field == "modelVersionId" else "BAD_USER_INPUT"
    error = error_of(result, code)
    assert field in error["message"] or error["extensions"].get("field") == field
    assert data_of(await graphql(client, "{ latestPerformance { id } }"))["latestPerformance"] == []


async def test_unknown_machine_is_not_found(client: httpx.AsyncClient) -> None:
    payload = {"machineId": str(uuid.uuid4()), "modelType": "BASELINE", "sampleCount": 1}

    error_of(await graphql(client, RECORD, {"input": payload}), "NOT_FOUND")


async def test_trend_is_ordered_windowed_and_bucketed(client: httpx.AsyncClient, resources: Resources) -> None:
    machine_id = uuid.UUID(await _machine(client, "Extruder"))
    now = datetime.now(UTC)
    async with transaction(resources.sessions) as session:
        for hours_ago in range(1200):  # 50 days of hourly evaluations, the oldest outside a 30-day window
            session.add(
                PerformanceMetrics(
                    machine_id=machine_id,
                    model_type=ModelType.BASELINE,
                    source=MetricsSource.MONITORING,
                    evaluated_at=now - timedelta(hours=hours_ago),
                    sample_count=24,
                    cv_rmse=0.1 + (hours_ago % 2) * 0.1,
                    extra={},
                    drift_detected=hours_ago == 5,
                    drift_score=0.01 * (hours_ago % 10),
                )
            )
    resources.settings.max_trend_points = 90

    points = data_of(await graphql(client, TREND, {"id": str(machine_id), "type": "BASELINE", "days": 30}))[
        "performanceTrend"
    ]

    assert len(points) == 90
    stamps = [datetime.fromisoformat(point["evaluatedAt"]) for point in points]
    assert stamps == sorted(stamps)
    assert now - stamps[0] <= timedelta(days=30)
    assert sum(point["sampleCount"] for point in points) == 24 * 720  # every evaluation inside 30 days
    assert all(abs(point["cvRmse"] - 0.15) < 1e-9 for point in points)  # buckets of 8: four 0.1s and four 0.2s
    assert sum(point["driftDetected"] for point in points) == 1
    error_of(await graphql(client, TREND, {"id": str(machine_id), "type": "BASELINE", "days": 0}), "BAD_USER_INPUT")


async def test_latest_performance_is_per_series_through_the_view(client: httpx.AsyncClient) -> None:
    first = await _machine(client, "Pump 1")
    second = await _machine(client, "Pump 2")
    for machine_id, model_type, cv in [
        (first, "BASELINE", 0.3),
        (first, "BASELINE", 0.2),
        (first, "ANOMALY", 0.5),
        (second, "BASELINE", 0.4),
    ]:
        payload = {"machineId": machine_id, "modelType": model_type, "sampleCount": 1, "cvRmse": cv}
        data_of(await graphql(client, RECORD, {"input": payload}))

    query = """query($id: UUID, $t: ModelType) {
      latestPerformance(machineId: $id, modelType: $t) { machineId modelType cvRmse } }"""
    everything = data_of(await graphql(client, query))["latestPerformance"]
    first_baseline = data_of(await graphql(client, query, {"id": first, "t": "BASELINE"}))["latestPerformance"]

    assert len(everything) == 3
    assert first_baseline == [{"machineId": first, "modelType": "BASELINE", "cvRmse": 0.2}]
