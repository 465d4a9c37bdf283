"""Seed data for the browser tests, written through the public GraphQL API like any client would.

Two machines with a few days of synthetic readings and a handful of external evaluations: one
series comfortably within policy, one that has drifted out of it under a stricter stored policy.
A third machine has enough history (three weeks) for Kilowatch to train a baseline on it.
Alerts have no public mutation that raises them, so they go through the alerts service directly
against the server's SQLite file.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pandas as pd

from app.db.engine import create_engine, create_session_factory, transaction
from app.enums import AlertType, ModelType, Severity
from app.ml.synthetic import DEMO_FLEET, MachineProfile, generate_readings
from app.services.alerting.alerts import raise_alert
from tests.support import data_of

READING_DAYS = 3
TRAINING_DAYS = 21
HEALTHY_MACHINE = DEMO_FLEET[0]
DRIFTING_MACHINE = DEMO_FLEET[4]
TRAINING_MACHINE = DEMO_FLEET[2]
#: CV(RMSE) of successive evaluations: the healthy series improves, the drifting one crosses its limit.
HEALTHY_CV_RMSE = (0.14, 0.12, 0.11, 0.10)
DRIFTING_CV_RMSE = (0.18, 0.24, 0.33, 0.42)
#: The stricter policy stored for the drifting series.
DRIFTING_POLICY = {"maxCvRmse": 0.35, "maxAbsNmbe": 0.05, "minRSquared": 0.7}
STANDING_ALERT_MESSAGE = "CV(RMSE) 42 % exceeds the 35 % limit for 3 consecutive windows"

REGISTER = "mutation($name: String!) { registerMachine(name: $name) { id } }"
INGEST = """
  mutation($machineId: UUID!, $readings: [ReadingInput!]!) {
    ingestReadings(machineId: $machineId, readings: $readings) { inserted }
  }"""
RECORD = "mutation($input: RecordMetricsInput!) { recordMetrics(input: $input) { id } }"
POLICY = "mutation($input: MonitoringPolicyInput!) { setMonitoringPolicy(input: $input) { isDefault } }"


@dataclass(frozen=True)
class SeededFleet:
    healthy_machine_id: str
    drifting_machine_id: str
    training_machine_id: str


async def graphql_data(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return data_of(response.json())


async def seed_fleet(client: httpx.AsyncClient, database_url: str) -> SeededFleet:
    healthy = await machine_with_readings(client, HEALTHY_MACHINE, READING_DAYS, seed=1)
    drifting = await machine_with_readings(client, DRIFTING_MACHINE, READING_DAYS, seed=2)
    training = await machine_with_readings(client, TRAINING_MACHINE, TRAINING_DAYS, seed=3)
    await _record_evaluations(client, healthy, HEALTHY_CV_RMSE, nmbe=0.01, r_squared=0.93)
    await _record_evaluations(client, drifting, DRIFTING_CV_RMSE, nmbe=0.08, r_squared=0.62)
    policy = {"machineId": drifting, "modelType": "BASELINE", **DRIFTING_POLICY}
    await graphql_data(client, POLICY, {"input": policy})
    await raise_test_alert(
        database_url, uuid.UUID(drifting), AlertType.DEGRADATION, Severity.CRITICAL, STANDING_ALERT_MESSAGE
    )
    return SeededFleet(healthy_machine_id=healthy, drifting_machine_id=drifting, training_machine_id=training)


async def raise_test_alert(
    database_url: str, machine_id: uuid.UUID, alert_type: AlertType, severity: Severity, message: str
) -> str:
    """Insert an alert on a BASELINE series the way a detector would; returns its id."""
    engine = create_engine(database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            raised = await raise_alert(
                session,
                machine_id=machine_id,
                model_type=ModelType.BASELINE,
                alert_type=alert_type,
                severity=severity,
                message=message,
            )
            return str(raised.alert.id)
    finally:
        await engine.dispose()


async def machine_with_readings(
    client: httpx.AsyncClient, profile: MachineProfile, days: int, seed: int, name: str | None = None
) -> str:
    """A machine registered as ``name`` (default: the profile's) with ``days`` of readings up to now."""
    machine_id = (await graphql_data(client, REGISTER, {"name": name or profile.name}))["registerMachine"]["id"]
    start = pd.Timestamp(datetime.now(UTC) - timedelta(days=days)).floor("h").tz_localize(None)
    frame = generate_readings(profile, start, days=days, seed=seed)
    await graphql_data(client, INGEST, {"machineId": machine_id, "readings": reading_inputs(frame)})
    return machine_id


def reading_inputs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame in the ``app.ml`` layout as ``ReadingInput`` values."""
    return [
        {
            "timestamp": timestamp.isoformat(),
            "energyKwh": float(row.energy_kwh),
            "productionUnits": _optional(row.production_units),
            "outdoorTempC": _optional(row.outdoor_temp_c),
            "isAnomaly": bool(row.is_anomaly),
        }
        for timestamp, row in frame.iterrows()
    ]


async def _record_evaluations(
    client: httpx.AsyncClient, machine_id: str, cv_rmse: tuple[float, ...], nmbe: float, r_squared: float
) -> None:
    for value in cv_rmse:
        metrics = {
            "machineId": machine_id,
            "modelType": "BASELINE",
            "sampleCount": 168,
            "cvRmse": value,
            "nmbe": nmbe,
            "rSquared": r_squared,
            "rmse": value * 50,
            "mae": value * 40,
        }
        await graphql_data(client, RECORD, {"input": metrics})


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
