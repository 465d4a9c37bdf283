"""Monitoring a champion: drift verdicts, alert dedup and auto-resolution, auto-retraining, webhooks."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pandas as pd
import sqlalchemy as sa

from app.db.engine import transaction
from app.db.tables import AlertNotification, NotificationStatus
from app.enums import AlertType, ModelType, Severity
from app.ml.synthetic import DEMO_FLEET, LevelShift, TemperatureShift, generate_readings
from app.runtime.resources import Resources
from app.services.alerting import alerts, notifications
from app.services.tracking import monitoring
from tests.integration.test_training import trigger, wait_for_terminal
from tests.seeding import ingest_frame, machine_with_frame
from tests.support import data_of, graphql

CHECK = """mutation($m: UUID!, $t: ModelType!, $d: Int) { checkDrift(machineId: $m, modelType: $t, windowDays: $d) {
  driftDetected driftScore sampleCount features { feature method statistic pValue threshold drifted }
  concept { detected metric reference current relativeChange } } }"""
ALERTS = (
    "query($m: UUID) { activeAlerts(machineId: $m) { id alertType severity occurrences autoAction trainingJobId } }"
)
POLICY = "mutation($input: MonitoringPolicyInput!) { setMonitoringPolicy(input: $input) { autoRetrain } }"
START = pd.Timestamp("2026-01-05", tz="UTC")


def press_frame(days: int, **changes: Any) -> pd.DataFrame:
    """A press line: production- and temperature-driven."""
    return generate_readings(DEMO_FLEET[0], START, days, seed=11, **changes)


def compressor_frame(days: int) -> pd.DataFrame:
    """A compressor reports production only, so no seasonal temperature drift muddies the verdicts."""
    return generate_readings(DEMO_FLEET[2], START, days, seed=12)


async def champion_on(
    client: httpx.AsyncClient, resources: Resources, name: str, frame: pd.DataFrame, training_days: int
) -> uuid.UUID:
    machine_id = await machine_with_frame(resources, name, frame.iloc[: training_days * 24])
    job = await wait_for_terminal(client, (await trigger(client, machine_id))["job"]["id"])
    assert job["status"] == "COMPLETED", job["errorMessage"]
    return machine_id


async def check(client: httpx.AsyncClient, machine_id: uuid.UUID, days: int = 7) -> dict[str, Any]:
    return data_of(await graphql(client, CHECK, {"m": str(machine_id), "t": "BASELINE", "d": days}))["checkDrift"]


def flagged(report: dict[str, Any]) -> set[str]:
    return {feature["feature"] for feature in report["features"] if feature["drifted"]}


async def test_a_regime_shift_and_a_level_drop_are_caught_where_they_happen(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    change = START + pd.Timedelta(days=75)
    frame = press_frame(90, level_shift=LevelShift(change, -0.10), temperature_shift=TemperatureShift(change, 8.0))
    machine_id = await champion_on(client, resources, "press", frame, training_days=60)

    await ingest_frame(resources, machine_id, frame.iloc[60 * 24 : 75 * 24])
    before = await check(client, machine_id)
    await ingest_frame(resources, machine_id, frame.iloc[75 * 24 :])
    after = await check(client, machine_id)

    assert "production_units" not in flagged(before) and not before["concept"]["detected"]
    assert "outdoor_temp_c" in flagged(after)
    assert "production_units" not in flagged(after)
    assert after["concept"]["detected"] and after["driftDetected"]
    types = {
        alert["alertType"] for alert in data_of(await graphql(client, ALERTS, {"m": str(machine_id)}))["activeAlerts"]
    }
    assert {"DRIFT", "DEGRADATION"} <= types
    trend = data_of(
        await graphql(
            client,
            """query($m: UUID!) { performanceTrend(machineId: $m, modelType: BASELINE, days: 60) {
      source driftDetected cvRmse } }""",
            {"m": str(machine_id)},
        )
    )["performanceTrend"]
    monitored = [point for point in trend if point["source"] == "MONITORING"]
    assert [point["source"] for point in trend] == ["TRAINING_VALIDATION", "MONITORING", "MONITORING"]
    assert [point["driftDetected"] for point in monitored] == [before["driftDetected"], True]


async def test_a_repeated_condition_is_one_alert_and_it_resolves_once_clear(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    frame = compressor_frame(90)
    machine_id = await champion_on(client, resources, "compressor", frame, training_days=60)
    drifted = frame.iloc[60 * 24 : 70 * 24].copy()
    drifted["production_units"] *= 1.8
    await ingest_frame(resources, machine_id, drifted)

    for _ in range(10):
        await check(client, machine_id)
    repeated = [
        a
        for a in data_of(await graphql(client, ALERTS, {"m": str(machine_id)}))["activeAlerts"]
        if a["alertType"] == "DRIFT"
    ]
    await ingest_frame(resources, machine_id, frame.iloc[70 * 24 :])  # the last 20 days are normal again
    await check(client, machine_id)
    await check(client, machine_id)

    assert len(repeated) == 1 and repeated[0]["occurrences"] == 10
    resolved = data_of(
        await graphql(
            client,
            "query($m: UUID) { alerts(machineId: $m, status: [RESOLVED]) { alertType resolvedBy: resolutionNote } }",
            {"m": str(machine_id)},
        )
    )
    assert [a for a in resolved["alerts"] if a["alertType"] == "DRIFT"] == [
        {"alertType": "DRIFT", "resolvedBy": "Condition cleared for 2 consecutive evaluations"}
    ]


async def test_auto_retrain_starts_exactly_one_job_within_the_cooldown(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    frame = compressor_frame(75)
    machine_id = await champion_on(client, resources, "kiln", frame, training_days=60)
    data_of(
        await graphql(
            client,
            POLICY,
            {
                "input": {
                    "machineId": str(machine_id),
                    "modelType": "BASELINE",
                    "autoRetrain": True,
                    "retrainCooldownHours": 24,
                }
            },
        )
    )
    drifted = frame.iloc[60 * 24 :].copy()
    drifted["production_units"] *= 1.8
    await ingest_frame(resources, machine_id, drifted)

    for _ in range(3):
        await check(client, machine_id)

    jobs = data_of(
        await graphql(
            client, """query($m: UUID) { trainingJobs(machineId: $m) { id triggerType } }""", {"m": str(machine_id)}
        )
    )["trainingJobs"]
    automatic = [job for job in jobs if job["triggerType"] in ("DRIFT", "DEGRADATION")]
    assert [job["triggerType"] for job in automatic] == ["DRIFT"]
    drift_alert = next(
        a
        for a in data_of(await graphql(client, ALERTS, {"m": str(machine_id)}))["activeAlerts"]
        if a["alertType"] == "DRIFT"
    )
    assert drift_alert["trainingJobId"] == automatic[0]["id"]
    assert automatic[0]["id"] in drift_alert["autoAction"]
    await wait_for_terminal(client, automatic[0]["id"])


async def test_the_periodic_pass_evaluates_each_new_window_once(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    frame = press_frame(64)
    machine_id = await champion_on(client, resources, "fan", frame, training_days=60)
    await ingest_frame(resources, machine_id, frame.iloc[60 * 24 :])

    first = await monitoring.evaluate_all(resources)
    second = await monitoring.evaluate_all(resources)

    assert (first, second) == (1, 0)


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that records what it got and answers with the status the test sets."""

    status = 200
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's handler naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return


@contextmanager
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("TestReceiver", (Receiver,), {"status": 200, "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    finally:
        server.shutdown()
        server.server_close()


async def _raise(resources: Resources, machine_id: uuid.UUID) -> None:
    async with transaction(resources.sessions) as session:
        await alerts.raise_alert(
            session,
            machine_id=machine_id,
            model_type=ModelType.BASELINE,
            alert_type=AlertType.DRIFT,
            severity=Severity.WARNING,
            message="drift seen",
            notify=resources.settings.webhook_urls,
        )


async def _make_due(resources: Resources) -> None:
    async with transaction(resources.sessions) as session:
        await session.execute(
            sa.update(AlertNotification).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


async def test_webhooks_are_signed_and_retried_until_delivered(client: httpx.AsyncClient, resources: Resources) -> None:
    machine_id = await machine_with_frame(resources, "hooked", press_frame(2))
    resources.settings.webhook_secret = "s3cret"
    with receiver() as (url, handler):
        resources.settings.webhook_urls = [url]
        handler.status = 500
        await _raise(resources, machine_id)
        await _raise(resources, machine_id)  # a repeat at the same severity notifies nobody again

        failed_round = await notifications.deliver_due(resources)
        await _make_due(resources)
        second_failed_round = await notifications.deliver_due(resources)
        handler.status = 200
        await _make_due(resources)
        delivered_round = await notifications.deliver_due(resources)

    assert (failed_round, second_failed_round, delivered_round) == (0, 0, 1)
    assert len(handler.received) == 3
    headers, body = handler.received[-1]
    assert headers[notifications.SIGNATURE_HEADER] == notifications.sign("s3cret", body)
    payload = json.loads(body)
    assert payload["event"] == "created" and payload["machine"] == "hooked"
    assert payload["text"].startswith("[WARNING] DRIFT alert raised for BASELINE of hooked")
    async with resources.sessions() as session:
        row = await session.scalar(sa.select(AlertNotification))
    assert row is not None and row.status == NotificationStatus.DELIVERED and row.attempts == 3
