from __future__ import annotations

import uuid

import httpx
import sqlalchemy as sa

from app.db.engine import transaction
from app.enums import AlertType, ModelType, Severity
from app.runtime.resources import Resources
from app.services.alerting import alerts
from tests.support import data_of, error_of, graphql

ACTIVE = "query($id: UUID) { activeAlerts(machineId: $id) { id alertType severity status occurrences message } }"


async def _machine(client: httpx.AsyncClient, name: str) -> uuid.UUID:
    result = await graphql(client, "mutation($n: String!) { registerMachine(name: $n) { id } }", {"n": name})
    return uuid.UUID(data_of(result)["registerMachine"]["id"])


async def _raise(
    resources: Resources,
    machine_id: uuid.UUID,
    alert_type: AlertType,
    severity: Severity,
    model_type: ModelType = ModelType.BASELINE,
) -> alerts.RaisedAlert:
    async with transaction(resources.sessions) as session:
        return await alerts.raise_alert(
            session,
            machine_id=machine_id,
            model_type=model_type,
            alert_type=alert_type,
            severity=severity,
            message=f"{alert_type.value} seen",
            details={"score": 0.3},
        )


async def test_repeat_detections_fold_into_one_alert_and_escalate(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    machine_id = await _machine(client, "Press")
    outcomes = [await _raise(resources, machine_id, AlertType.DRIFT, Severity.WARNING) for _ in range(9)]
    escalated = await _raise(resources, machine_id, AlertType.DRIFT, Severity.CRITICAL)
    calmer = await _raise(resources, machine_id, AlertType.DRIFT, Severity.INFO)

    assert [outcome.created for outcome in outcomes] == [True] + [False] * 8
    assert escalated.escalated and not calmer.escalated
    active = data_of(await graphql(client, ACTIVE, {"id": str(machine_id)}))["activeAlerts"]
    assert len(active) == 1
    assert active[0]["occurrences"] == 11 and active[0]["severity"] == "CRITICAL"


async def test_lifecycle_acknowledge_then_resolve_with_note(client: httpx.AsyncClient, resources: Resources) -> None:
    machine_id = await _machine(client, "Oven")
    alert_id = str((await _raise(resources, machine_id, AlertType.DEGRADATION, Severity.WARNING)).alert.id)

    acknowledged = data_of(
        await graphql(
            client, "mutation($id: UUID!) { acknowledgeAlert(id: $id) { status acknowledgedAt } }", {"id": alert_id}
        )
    )
    again = data_of(
        await graphql(client, "mutation($id: UUID!) { acknowledgeAlert(id: $id) { status } }", {"id": alert_id})
    )
    resolved = data_of(
        await graphql(
            client,
            "mutation($id: UUID!, $n: String) { resolveAlert(id: $id, note: $n) { status resolutionNote resolvedAt } }",
            {"id": alert_id, "n": "Sensor recalibrated"},
        )
    )

    assert acknowledged["acknowledgeAlert"]["status"] == "ACKNOWLEDGED"
    assert acknowledged["acknowledgeAlert"]["acknowledgedAt"] is not None
    assert again["acknowledgeAlert"]["status"] == "ACKNOWLEDGED"
    assert resolved["resolveAlert"]["status"] == "RESOLVED"
    assert resolved["resolveAlert"]["resolutionNote"] == "Sensor recalibrated"
    assert data_of(await graphql(client, ACTIVE, {"id": str(machine_id)}))["activeAlerts"] == []
    error_of(
        await graphql(client, "mutation($id: UUID!) { resolveAlert(id: $id) { id } }", {"id": alert_id}), "CONFLICT"
    )
    error_of(
        await graphql(client, "mutation($id: UUID!) { acknowledgeAlert(id: $id) { id } }", {"id": alert_id}), "CONFLICT"
    )
    # A new detection after resolution opens a new alert instead of reviving the closed one.
    assert (await _raise(resources, machine_id, AlertType.DEGRADATION, Severity.WARNING)).created


async def test_unknown_alert_is_not_found(client: httpx.AsyncClient) -> None:
    missing = str(uuid.uuid4())
    error_of(
        await graphql(client, "mutation($id: UUID!) { acknowledgeAlert(id: $id) { id } }", {"id": missing}), "NOT_FOUND"
    )
    error_of(
        await graphql(client, "mutation($id: UUID!) { resolveAlert(id: $id) { id } }", {"id": missing}), "NOT_FOUND"
    )


async def test_filters_and_critical_first_order(client: httpx.AsyncClient, resources: Resources) -> None:
    press = await _machine(client, "Press")
    pump = await _machine(client, "Pump")
    await _raise(resources, press, AlertType.DRIFT, Severity.INFO)
    await _raise(resources, press, AlertType.TRAINING_FAILED, Severity.CRITICAL)
    await _raise(resources, pump, AlertType.DEGRADATION, Severity.WARNING, ModelType.ANOMALY)
    query = """query($s: [AlertStatus!], $m: UUID, $t: ModelType, $sev: Severity, $l: Int) {
      alerts(status: $s, machineId: $m, modelType: $t, minSeverity: $sev, limit: $l) {
        severity machineId modelType } }"""

    everything = data_of(await graphql(client, query))["alerts"]
    serious = data_of(await graphql(client, query, {"sev": "WARNING"}))["alerts"]
    pump_anomaly = data_of(await graphql(client, query, {"m": str(pump), "t": "ANOMALY"}))["alerts"]
    first_only = data_of(await graphql(client, query, {"l": 1}))["alerts"]

    assert [alert["severity"] for alert in everything] == ["CRITICAL", "WARNING", "INFO"]
    assert [alert["severity"] for alert in serious] == ["CRITICAL", "WARNING"]
    assert [alert["machineId"] for alert in pump_anomaly] == [str(pump)]
    assert first_only == [everything[0]]
    error_of(await graphql(client, query, {"l": 0}), "BAD_USER_INPUT")
    error_of(await graphql(client, query, {"l": 100_000}), "BAD_USER_INPUT")
    async with resources.sessions() as session:
        view = (await session.execute(sa.text("SELECT severity FROM v_unresolved_model_alerts"))).scalars().all()
    assert view == ["critical", "warning", "info"]


async def test_note_length_is_bounded(client: httpx.AsyncClient, resources: Resources) -> None:
    machine_id = await _machine(client, "Fan")
    alert_id = str((await _raise(resources, machine_id, AlertType.DRIFT, Severity.INFO)).alert.id)

    result = await graphql(
        client,
        "mutation($id: UUID!, $n: String) { resolveAlert(id: $id, note: $n) { id } }",
        {"id": alert_id, "n": "x" * 5000},
    )

    error_of(result, "BAD_USER_INPUT")
    assert len(data_of(await graphql(client, ACTIVE))["activeAlerts"]) == 1
