from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.db.engine import transaction
from app.db.tables import PerformanceMetrics
from app.enums import MetricsSource, ModelType
from app.runtime.resources import Resources
from app.services.tracking import performance
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


async def test_a_new_evaluation_changes_the_trend_a_process_already_computed(client: httpx.AsyncClient) -> None:
    machine_id = await _machine(client, "Kiln")
    variables = {"id": machine_id, "type": "BASELINE", "days": 30}
    record = "mutation($input: RecordMetricsInput!) { recordMetrics(input: $input) { id } }"
    seen = []
    for cv_rmse in (0.2, 0.3, 0.4):
        payload = {"machineId": machine_id, "modelType": "BASELINE", "sampleCount": 1, "cvRmse": cv_rmse}
        data_of(await graphql(client, record, {"input": payload}))
        for _ in range(2):  # the second read is answered from what the first computed
            seen.append(
                [point["cvRmse"] for point in data_of(await graphql(client, TREND, variables))["performanceTrend"]]
            )

    assert seen == [[0.2], [0.2], [0.2, 0.3], [0.2, 0.3], [0.2, 0.3, 0.4], [0.2, 0.3, 0.4]]


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


async def test_buckets_are_equal_count_sample_weighted_merges_computed_by_the_database(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    machine_id = uuid.UUID(await _machine(client, "Chiller"))
    now = datetime.now(UTC)
    evaluations = [
        {
            "evaluated_at": now - timedelta(hours=23 - index),
            "sample_count": index % 4,  # 0 samples weigh 1
            "r_squared": None if index % 5 == 0 else 0.5 + index / 100,
            "cv_rmse": 0.1 + index / 1000,
            "drift_score": None if index % 3 else index / 10,
            "window_start": now - timedelta(hours=30 - index),
            "window_end": now - timedelta(hours=29 - index),
        }
        for index in range(23)
    ]
    async with transaction(resources.sessions) as session:
        session.add_all(
            PerformanceMetrics(
                machine_id=machine_id,
                model_type=ModelType.ANOMALY,
                source=MetricsSource.MONITORING,
                extra={"own": index},
                drift_detected=index == 7,
                **evaluation,
            )
            for index, evaluation in enumerate(evaluations)
        )

    async with resources.reads() as session:
        points = await performance.trend(session, machine_id, ModelType.ANOMALY, 30, 5)
        unbucketed = await performance.trend(session, machine_id, ModelType.ANOMALY, 30, 23)

    groups: dict[int, list[dict[str, Any]]] = {}
    for index, evaluation in enumerate(evaluations):  # evaluation i of n goes to bucket floor(i * 5 / n)
        groups.setdefault(index * 5 // 23, []).append({**evaluation, "drift_detected": index == 7})
    assert [point.evaluations for point in points] == [len(group) for group in groups.values()] == [5, 5, 4, 5, 4]
    for point, group in zip(points, groups.values(), strict=True):
        assert point.evaluated_at == group[-1]["evaluated_at"]
        assert (point.window_start, point.window_end) == (group[0]["window_start"], group[-1]["window_end"])
        assert point.sample_count == sum(item["sample_count"] for item in group)
        assert point.drift_detected == any(item["drift_detected"] for item in group)
        scores = [item["drift_score"] for item in group if item["drift_score"] is not None]
        assert point.drift_score == (max(scores) if scores else None)
        assert point.extra == {"bucketed_evaluations": len(group)}
        for name in ("r_squared", "cv_rmse"):
            pairs = [(item[name], max(item["sample_count"], 1)) for item in group if item[name] is not None]
            expected = sum(value * weight for value, weight in pairs) / sum(weight for _, weight in pairs)
            assert getattr(point, name) == pytest.approx(expected, rel=1e-12)
    assert [point.extra for point in unbucketed] == [{"own": index} for index in range(23)]
    assert [point.cv_rmse for point in unbucketed] == pytest.approx([item["cv_rmse"] for item in evaluations])
