"""Data-quality alerts in the monitoring cycle, and what a person sees placed on data time.

- a stuck meter raises one DATA_QUALITY alert naming its time range, and it resolves itself once
  the new readings are clean again;
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
from app.enums import AlertStatus, AlertType, MetricsSource, ModelType, VersionStage
from app.runtime.resources import Resources
from app.services.tracking import monitoring
from tests.integration.test_monitoring import champion_on, compressor_frame
from tests.seeding import ingest_frame
from tests.support import data_of, graphql

SERIES = """query($m: UUID!) { machine(id: $m) { models { modelType
  latestPerformance { id source modelVersion windowEnd cvRmse }
  performanceTrend(days: 400) { source modelVersion windowStart windowEnd evaluatedAt } } } }"""


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
