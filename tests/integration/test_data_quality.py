"""Data-quality alerts in the monitoring cycle, and what a person sees placed on data time.

- a stuck meter raises one DATA_QUALITY alert naming its time range, and it resolves itself once
  the new readings are clean again;
- a meter that goes silent and stays silent raises it while the silence lasts, measured against the
  fleet's data clock (the other meters keep reporting), escalates as it grows, and resolves once
  the readings resume, backfilled or not; the control meter stays quiet;
- the trend is ordered by the data window it describes, not by when it was computed;
- a series' latest performance is its champion's, never an unpromoted candidate's.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import sqlalchemy as sa

from app.db.engine import transaction
from app.db.tables import Alert, ModelVersion, PerformanceMetrics
from app.enums import AlertStatus, AlertType, MetricsSource, ModelType, Severity, VersionStage
from app.runtime.resources import Resources
from app.services.tracking import monitoring
from tests.integration.test_monitoring import champion_on, compressor_frame
from tests.seeding import ingest_frame, machine_with_frame
from tests.support import data_of, graphql

SERIES = """query($m: UUID!) { machine(id: $m) { models { modelType
  latestPerformance { id source modelVersion windowEnd cvRmse }
  performanceTrend(days: 400) { source modelVersion windowStart windowEnd evaluatedAt } } } }"""

MACHINE_ALERTS = """query($m: UUID!) { machine(id: $m) { openAlerts { id alertType }
  models { modelType openAlerts { id } } } }"""


async def _alerts(resources: Resources, machine_id: uuid.UUID) -> list[Alert]:
    async with resources.reads() as session:
        query = sa.select(Alert).where(Alert.machine_id == machine_id, Alert.alert_type == AlertType.DATA_QUALITY)
        return list((await session.scalars(query)).all())


async def test_a_stuck_meter_raises_one_alert_with_its_range_and_resolves_when_clean(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    frame = compressor_frame(40)
    machine_id = await champion_on(client, resources, "stuck-compressor", frame, training_days=30)
    stuck = frame.iloc[30 * 24 : 37 * 24].copy()
    # From 10:00 on the third day the meter repeats that reading for two days (idle hours read 0 kWh, not stuck).
    stuck.iloc[59:107, stuck.columns.get_loc("energy_kwh")] = stuck["energy_kwh"].iloc[58]

    await ingest_frame(resources, machine_id, stuck.iloc[:72])
    await monitoring.evaluate_all(resources)
    await ingest_frame(resources, machine_id, stuck.iloc[72:])
    await monitoring.evaluate_all(resources)
    (alert,) = await _alerts(resources, machine_id)
    await ingest_frame(resources, machine_id, frame.iloc[37 * 24 :])
    await monitoring.evaluate_all(resources)
    (resolved,) = await _alerts(resources, machine_id)

    assert alert.status is AlertStatus.OPEN and alert.occurrences == 2  # found, then still stuck: one alert
    assert alert.details["kinds"] == ["stuck"]
    assert pd.Timestamp(alert.details["window_start"]) == stuck.index[58]
    assert pd.Timestamp(alert.details["window_end"]) == stuck.index[106]
    assert "energy_kwh stuck at" in alert.message and "48.0 h" in alert.message
    assert resolved.id == alert.id and resolved.status is AlertStatus.RESOLVED
    assert "clean again" in (resolved.resolution_note or "")


async def test_a_silent_meter_raises_while_it_stays_silent_and_resolves_when_readings_resume(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    frame = compressor_frame(36)
    silent_id = await champion_on(client, resources, "silent-compressor", frame, training_days=30)
    control_id = await champion_on(client, resources, "reporting-compressor", frame, training_days=30)
    day = 24

    async def report(machine_ids: list[uuid.UUID], start: int, end: int) -> None:
        for machine_id in machine_ids:
            await ingest_frame(resources, machine_id, frame.iloc[start * day : end * day])
        await monitoring.evaluate_all(resources)

    await report([silent_id, control_id], 30, 31)
    last = frame.index[31 * day - 1]
    await report([control_id], 31, 32)  # the silent meter's last reading stays at `last`
    (alert,) = await _alerts(resources, silent_id)
    shown = data_of(await graphql(client, MACHINE_ALERTS, {"m": str(silent_id)}))["machine"]
    await report([control_id], 32, 34)
    (grown,) = await _alerts(resources, silent_id)
    await report([silent_id], 31, 34)  # backfilled up to the data clock
    await report([silent_id, control_id], 34, 35)
    (resolved,) = await _alerts(resources, silent_id)

    assert await _alerts(resources, control_id) == []
    assert alert.status is AlertStatus.OPEN and alert.severity is Severity.CRITICAL  # 24 h: a day of readings
    assert alert.model_type is ModelType.BASELINE
    assert pd.Timestamp(alert.details["window_start"]) == last
    assert pd.Timestamp(alert.details["window_end"]) == frame.index[32 * day - 1]
    assert alert.details["issues"][0]["open"] is True
    assert alert.message.startswith("Meter silent: no readings since")
    # The meter's fault is the machine's: shown once with it, not among any model's alerts.
    assert [item["id"] for item in shown["openAlerts"]] == [str(alert.id)]
    assert all(series["openAlerts"] == [] for series in shown["models"])
    assert grown.id == alert.id and grown.occurrences > alert.occurrences
    assert pd.Timestamp(grown.details["window_end"]) == frame.index[34 * day - 1]
    assert resolved.id == alert.id and resolved.status is AlertStatus.RESOLVED


async def test_a_silence_shorter_than_the_allowance_raises_nothing_and_resumed_readings_close_the_gap(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    frame = compressor_frame(34)
    meter_id = await champion_on(client, resources, "late-compressor", frame, training_days=30)
    clock_id = await machine_with_frame(resources, "clock-meter", frame.iloc[: 31 * 24 + 4])
    await ingest_frame(resources, meter_id, frame.iloc[30 * 24 : 31 * 24])
    await monitoring.evaluate_all(resources)  # silent for 4 h: within the 6 h allowance
    assert await _alerts(resources, meter_id) == []

    await ingest_frame(resources, clock_id, frame.iloc[31 * 24 + 4 : 31 * 24 + 12])  # 12 h silent
    await monitoring.evaluate_all(resources)
    (open_gap,) = await _alerts(resources, meter_id)
    await ingest_frame(resources, meter_id, frame.iloc[32 * 24 : 33 * 24])  # resumes, the gap not backfilled
    await monitoring.evaluate_all(resources)
    (closed,) = await _alerts(resources, meter_id)
    await ingest_frame(resources, meter_id, frame.iloc[33 * 24 :])
    await monitoring.evaluate_all(resources)
    (aged,) = await _alerts(resources, meter_id)

    assert open_gap.severity is Severity.WARNING and open_gap.details["issues"][0]["open"] is True
    assert closed.status is AlertStatus.OPEN and closed.details["issues"][0]["open"] is False
    assert pd.Timestamp(closed.details["issues"][0]["end"]) == frame.index[32 * 24]
    assert aged.id == open_gap.id and aged.status is AlertStatus.RESOLVED


async def test_the_trend_is_on_data_time_and_latest_is_the_champions_never_a_candidates(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    frame = compressor_frame(34)
    machine_id = await champion_on(client, resources, "timed-compressor", frame, training_days=30)
    await ingest_frame(resources, machine_id, frame.iloc[30 * 24 :])
    assert await monitoring.evaluate_all(resources) == 1
    async with transaction(resources.sessions) as session:  # a retrain that was not promoted, evaluated later
        champion = await session.scalar(sa.select(ModelVersion).where(ModelVersion.machine_id == machine_id))
        assert champion is not None
        candidate = ModelVersion(
            machine_id=machine_id,
            model_type=ModelType.BASELINE,
            version=2,
            stage=VersionStage.CANDIDATE,
            artifact=champion.artifact,
            features=champion.features,
            hyperparameters=champion.hyperparameters,
            trained_from=champion.trained_from,
            trained_to=frame.index[-1].to_pydatetime(),
            training_rows=champion.training_rows,
            reference_profile=champion.reference_profile,
        )
        session.add(candidate)
        await session.flush()
        session.add(
            PerformanceMetrics(
                machine_id=machine_id,
                model_type=ModelType.BASELINE,
                model_version_id=candidate.id,
                source=MetricsSource.TRAINING_VALIDATION,
                evaluated_at=datetime.now(UTC) + timedelta(minutes=1),
                window_start=frame.index[-100].to_pydatetime(),
                window_end=frame.index[-1].to_pydatetime(),
                sample_count=100,
                cv_rmse=0.01,
                extra={},
                drift_detected=False,
            )
        )

    models = data_of(await graphql(client, SERIES, {"m": str(machine_id)}))["machine"]["models"]
    baseline = next(series for series in models if series["modelType"] == "BASELINE")

    latest = baseline["latestPerformance"]
    assert (latest["source"], latest["modelVersion"]) == ("MONITORING", 1)
    assert latest["cvRmse"] != 0.01
    trend = baseline["performanceTrend"]
    ends = [datetime.fromisoformat(point["windowEnd"]) for point in trend]
    assert ends == sorted(ends)
    assert [(point["source"], point["modelVersion"]) for point in trend] == [
        ("TRAINING_VALIDATION", 1),
        ("MONITORING", 1),
        ("TRAINING_VALIDATION", 2),
    ]
    # The monitoring point sits at the end of the readings it evaluated, whenever it was computed.
    assert ends[1] == frame.index[-1].to_pydatetime()
