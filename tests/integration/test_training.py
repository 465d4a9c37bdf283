"""Training in embedded mode (in-process queue): the same task function the ARQ workers run."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa

from app.db.tables import ModelVersion
from app.enums import ModelType
from app.ml.model_types import get_model_type
from app.runtime.resources import Resources
from app.services.fleet import readings
from app.services.models.scheduling import retrain_all_due
from tests.seeding import seeded_machine
from tests.support import data_of, error_of, graphql

TRIGGER = """mutation($m: UUID!, $t: ModelType!, $r: String) {
  triggerRetrain(machineId: $m, modelType: $t, reason: $r) {
    triggered reason job { id status triggerType reason } } }"""
JOB = """query($id: UUID!) { trainingJob(id: $id) { id status progress errorMessage durationSeconds improvement
  startedAt finishedAt modelVersion { id version stage trainingRows features hyperparameters
  validationMetrics { source sampleCount rSquared cvRmse nmbe rmse mae windowStart windowEnd } } } }"""
SERIES = """query($m: UUID!, $t: ModelType!) { modelSeries(machineId: $m, modelType: $t) {
  champion { id version } versions { id version stage }
  championHistory { reason fromVersion { version } toVersion { version } } trainingJobs { id status } } }"""


async def wait_for_terminal(client: httpx.AsyncClient, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        job = data_of(await graphql(client, JOB, {"id": job_id}))["trainingJob"]
        if job["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return job
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.1)


async def trigger(
    client: httpx.AsyncClient, machine_id: uuid.UUID, model_type: str = "BASELINE", reason: str | None = None
) -> dict[str, Any]:
    variables = {"m": str(machine_id), "t": model_type, "r": reason}
    return data_of(await graphql(client, TRIGGER, variables))["triggerRetrain"]


async def test_baseline_trains_for_real_and_its_metrics_match_an_independent_computation(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    machine_id = await seeded_machine(resources, "press-line-1", days=60)

    started = await trigger(client, machine_id, reason="commissioning")
    job = await wait_for_terminal(client, started["job"]["id"])

    assert started["triggered"] and started["job"]["triggerType"] == "MANUAL"
    assert job["status"] == "COMPLETED", job["errorMessage"]
    assert job["progress"] == 1.0 and job["durationSeconds"] > 0 and job["improvement"] is None
    version = job["modelVersion"]
    assert (version["version"], version["stage"], version["trainingRows"]) == (1, "CHAMPION", 60 * 24)
    metrics = version["validationMetrics"]
    assert metrics["source"] == "TRAINING_VALIDATION"

    # Recompute CV(RMSE), NMBE and R² by hand: fit the same model type on everything before the validation
    # window (the stored artifact is refitted on the whole window, so it cannot be used), predict the window.
    async with resources.sessions() as session:
        frame = await readings.recent_frame(session, machine_id, 365)
    start = datetime.fromisoformat(metrics["windowStart"])
    training, window = frame[frame.index < start], frame[frame.index >= start]
    model = get_model_type("baseline").fit(training)  # the job trains with the defaults, as here
    actual = window["energy_kwh"].to_numpy()
    errors = actual - model.predict(window).value
    n, p = len(actual), model.parameter_count
    assert metrics["sampleCount"] == n and datetime.fromisoformat(metrics["windowEnd"]) == frame.index[-1]
    assert np.isclose(metrics["cvRmse"], np.sqrt((errors**2).sum() / (n - p)) / actual.mean(), rtol=1e-9)
    assert np.isclose(metrics["nmbe"], errors.sum() / ((n - p) * actual.mean()), rtol=1e-9, atol=1e-12)
    assert np.isclose(metrics["rSquared"], 1 - (errors**2).sum() / ((actual - actual.mean()) ** 2).sum(), rtol=1e-9)
    assert metrics["cvRmse"] < 0.3  # a real fit of data with known structure meets ASHRAE G14 hourly


async def test_second_version_is_compared_and_history_is_kept(client: httpx.AsyncClient, resources: Resources) -> None:
    machine_id = await seeded_machine(resources, "compressor", days=45)
    first = await wait_for_terminal(client, (await trigger(client, machine_id))["job"]["id"])
    second = await wait_for_terminal(client, (await trigger(client, machine_id))["job"]["id"])

    assert first["status"] == second["status"] == "COMPLETED"
    assert second["modelVersion"]["version"] == 2
    assert second["improvement"] is not None  # compared with version 1 on the same validation window
    series = data_of(await graphql(client, SERIES, {"m": str(machine_id), "t": "BASELINE"}))["modelSeries"]
    assert [v["version"] for v in series["versions"]] == [2, 1]
    assert sum(v["stage"] == "CHAMPION" for v in series["versions"]) == 1
    assert series["championHistory"][-1]["reason"].endswith("first version of the series")

    rollback = await graphql(
        client,
        'mutation($id: UUID!) { promoteModelVersion(id: $id, reason: "rollback test") { version stage } }',
        {"id": first["modelVersion"]["id"]},
    )
    series = data_of(await graphql(client, SERIES, {"m": str(machine_id), "t": "BASELINE"}))["modelSeries"]
    if data_of(rollback)["promoteModelVersion"]["stage"] == "CHAMPION":
        assert series["champion"]["version"] == 1
        newest = series["championHistory"][0]
        assert newest["reason"] == "rollback test" and newest["toVersion"]["version"] == 1


async def test_a_second_trigger_while_active_returns_the_active_job(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    machine_id = await seeded_machine(resources, "oven", days=30)

    first = await trigger(client, machine_id)
    second = await trigger(client, machine_id)

    assert first["triggered"] is True
    assert second == {"triggered": False, "reason": "Training already in progress", "job": second["job"]}
    assert second["job"]["id"] == first["job"]["id"]
    await wait_for_terminal(client, first["job"]["id"])


async def test_insufficient_data_fails_with_a_clear_message_and_an_alert(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    machine_id = await seeded_machine(resources, "new-meter", days=5)

    job = await wait_for_terminal(client, (await trigger(client, machine_id, "FORECAST_ARIMA"))["job"]["id"])

    assert job["status"] == "FAILED"
    assert "not enough data" in job["errorMessage"] and job["modelVersion"] is None
    alerts = data_of(await graphql(client, "{ activeAlerts { alertType trainingJobId message } }"))["activeAlerts"]
    assert [a["alertType"] for a in alerts] == ["TRAINING_FAILED"]
    assert alerts[0]["trainingJobId"] == job["id"]


async def test_cancel_a_pending_job_at_once(client: httpx.AsyncClient, resources: Resources) -> None:
    busy = await seeded_machine(resources, "busy", days=60)
    waiting = await seeded_machine(resources, "waiting", days=60, profile_index=1)
    running = await trigger(client, busy, "ANOMALY")  # holds the single in-process slot
    pending = await trigger(client, waiting)

    cancelled = data_of(
        await graphql(
            client, "mutation($id: UUID!) { cancelTrainingJob(id: $id) { status } }", {"id": pending["job"]["id"]}
        )
    )["cancelTrainingJob"]

    assert cancelled["status"] == "CANCELLED"
    assert (await wait_for_terminal(client, pending["job"]["id"]))["status"] == "CANCELLED"
    assert (await wait_for_terminal(client, running["job"]["id"]))["status"] == "COMPLETED"
    async with resources.sessions() as session:
        versions = await session.scalar(
            sa.select(sa.func.count()).select_from(ModelVersion).where(ModelVersion.machine_id == waiting)
        )
    assert versions == 0
    again = await graphql(
        client, "mutation($id: UUID!) { cancelTrainingJob(id: $id) { status } }", {"id": pending["job"]["id"]}
    )
    error_of(again, "CONFLICT")


async def test_unknown_ids(client: httpx.AsyncClient) -> None:
    missing = str(uuid.uuid4())
    error_of(await graphql(client, TRIGGER, {"m": missing, "t": "BASELINE"}), "NOT_FOUND")
    error_of(
        await graphql(client, "mutation($id: UUID!) { cancelTrainingJob(id: $id) { id } }", {"id": missing}),
        "NOT_FOUND",
    )
    error_of(
        await graphql(client, "mutation($id: UUID!) { promoteModelVersion(id: $id) { id } }", {"id": missing}),
        "NOT_FOUND",
    )
    assert ModelType.BASELINE


async def test_a_job_over_its_time_budget_fails_as_timed_out(client: httpx.AsyncClient, resources: Resources) -> None:
    machine_id = await seeded_machine(resources, "slow-series", days=365)
    resources.settings.job_timeout_s = 0.3

    job = await wait_for_terminal(client, (await trigger(client, machine_id, "FORECAST_PROPHET"))["job"]["id"])

    assert job["status"] == "FAILED" and job["errorMessage"] == "timed out after 0.3 s"
    assert job["modelVersion"] is None


async def test_scheduled_retraining_starts_only_series_with_enough_history(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    long_history = await seeded_machine(resources, "long-history", days=20)
    await seeded_machine(resources, "short-history", days=10)

    started = await retrain_all_due(resources)

    jobs = data_of(await graphql(client, "{ trainingJobs(limit: 50) { machineId modelType triggerType id } }"))
    scheduled = jobs["trainingJobs"]
    assert started == 3  # 20 days: enough for the 14-day types, not for FORECAST_ARIMA (28 days)
    assert {job["machineId"] for job in scheduled} == {str(long_history)}
    assert {job["triggerType"] for job in scheduled} == {"SCHEDULED"}
    assert "FORECAST_ARIMA" not in {job["modelType"] for job in scheduled}
    for job in scheduled:
        await wait_for_terminal(client, job["id"])
