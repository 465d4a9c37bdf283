from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.config import Settings
from tests.support import data_of, error_of, graphql

INGEST = """mutation($id: UUID!, $readings: [ReadingInput!]!) {
  ingestReadings(machineId: $id, readings: $readings) { machineId inserted updated } }"""
STATS = "query($id: UUID!) { machine(id: $id) { readingsCount firstReadingAt lastReadingAt } }"
START = datetime(2020, 1, 1, tzinfo=UTC)


async def _machine(client: httpx.AsyncClient, name: str = "Press") -> str:
    result = await graphql(client, "mutation($n: String!) { registerMachine(name: $n) { id } }", {"n": name})
    return data_of(result)["registerMachine"]["id"]


def _readings(count: int, start: datetime = START, kwh: float = 10.0) -> list[dict[str, object]]:
    return [
        {
            "timestamp": (start + timedelta(hours=index)).isoformat(),
            "energyKwh": kwh + index % 7,
            "productionUnits": float(index % 24),
            "outdoorTempC": 5.0 + index % 10,
            "isAnomaly": index % 100 == 0,
        }
        for index in range(count)
    ]


async def _count(client: httpx.AsyncClient, machine_id: str) -> int:
    return data_of(await graphql(client, STATS, {"id": machine_id}))["machine"]["readingsCount"]


async def test_batch_is_inserted_then_a_rerun_updates_instead_of_duplicating(client: httpx.AsyncClient) -> None:
    machine_id = await _machine(client)
    batch = _readings(50_000)

    first = data_of(await graphql(client, INGEST, {"id": machine_id, "readings": batch}))["ingestReadings"]
    second = data_of(await graphql(client, INGEST, {"id": machine_id, "readings": batch}))["ingestReadings"]

    assert first == {"machineId": machine_id, "inserted": 50_000, "updated": 0}
    assert second == {"machineId": machine_id, "inserted": 0, "updated": 50_000}
    stats = data_of(await graphql(client, STATS, {"id": machine_id}))["machine"]
    assert stats["readingsCount"] == 50_000
    assert datetime.fromisoformat(stats["firstReadingAt"]) == START
    assert datetime.fromisoformat(stats["lastReadingAt"]) == START + timedelta(hours=49_999)


async def test_overlapping_batch_counts_inserted_and_updated_and_stores_new_values(client: httpx.AsyncClient) -> None:
    machine_id = await _machine(client)
    data_of(await graphql(client, INGEST, {"id": machine_id, "readings": _readings(10)}))

    overlapping = _readings(10, start=START + timedelta(hours=5), kwh=100.0)
    result = data_of(await graphql(client, INGEST, {"id": machine_id, "readings": overlapping}))["ingestReadings"]

    assert (result["inserted"], result["updated"]) == (5, 5)
    assert await _count(client, machine_id) == 15


@pytest.mark.parametrize(
    ("index", "field", "value", "fragment"),
    [
        (3, "energyKwh", -1.0, "readings[3]: energyKwh"),
        (7, "productionUnits", -5.0, "readings[7]: productionUnits"),
        (2, "outdoorTempC", 400.0, "readings[2]: outdoorTempC"),
        (4, "timestamp", "2026-01-01T04:00:00", "readings[4]: timestamp must include a UTC offset"),
        (5, "timestamp", START.isoformat(), "readings[5]: timestamp 2020-01-01T00:00:00+00:00 repeats readings[0]"),
    ],
)
async def test_one_bad_reading_rejects_the_whole_batch(
    client: httpx.AsyncClient, index: int, field: str, value: object, fragment: str
) -> None:
    machine_id = await _machine(client)
    batch = _readings(10)
    batch[index][field] = value

    error = error_of(await graphql(client, INGEST, {"id": machine_id, "readings": batch}), "BAD_USER_INPUT")

    assert fragment in error["message"]
    assert await _count(client, machine_id) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers_are_refused(client: httpx.AsyncClient, literal: str) -> None:
    machine_id = await _machine(client)
    reading = '{"timestamp": "2026-01-01T00:00:00Z", "energyKwh": ' + literal + "}"
    body = f'{{"query": {json.dumps(INGEST)}, "variables": {{"id": "{machine_id}", "readings": [{reading}]}}}}'

    response = await client.post("/graphql", content=body, headers={"content-type": "application/json"})

    assert response.status_code < 500
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await _count(client, machine_id) == 0


async def test_unknown_machine_is_not_found(client: httpx.AsyncClient) -> None:
    result = await graphql(client, INGEST, {"id": str(uuid.uuid4()), "readings": _readings(2)})

    error_of(result, "NOT_FOUND")


async def test_oversized_batch_is_refused_before_anything_is_written(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    settings.max_ingest_batch = 20
    machine_id = await _machine(client)
    too_many = _readings(21)

    error = error_of(await graphql(client, INGEST, {"id": machine_id, "readings": too_many}), "BAD_USER_INPUT")

    assert f"at most {settings.max_ingest_batch}" in error["message"]
    assert await _count(client, machine_id) == 0


async def test_a_reading_beyond_the_clock_skew_tolerance_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    settings.future_tolerance_s = 600.0
    machine_id = await _machine(client)
    now = datetime.now(UTC)
    within = [{"timestamp": (now + timedelta(seconds=300)).isoformat(), "energyKwh": 1.0}]
    beyond = [*_readings(3), {"timestamp": (now + timedelta(hours=2)).isoformat(), "energyKwh": 1.0}]

    accepted = data_of(await graphql(client, INGEST, {"id": machine_id, "readings": within}))["ingestReadings"]
    error = error_of(await graphql(client, INGEST, {"id": machine_id, "readings": beyond}), "BAD_USER_INPUT")

    assert accepted["inserted"] == 1
    assert "readings[3]: timestamp" in error["message"] and "in the future" in error["message"]
    assert error["extensions"]["field"] == "readings[3].timestamp"
    assert await _count(client, machine_id) == 1
