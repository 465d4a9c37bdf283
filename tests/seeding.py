"""Test data written through the service layer: a machine and realistic readings with known structure."""

from __future__ import annotations

import uuid

import pandas as pd

from app.db.engine import transaction
from app.ml.synthetic import DEMO_FLEET, generate_readings
from app.runtime.resources import Resources
from app.services.fleet import ingest, machines


def reading_rows(frame: pd.DataFrame) -> list[ingest.ReadingRow]:
    anomaly = [None if value is pd.NA else bool(value) for value in frame["is_anomaly"].tolist()]
    return list(
        zip(
            frame.index.to_pydatetime().tolist(),
            frame["energy_kwh"].tolist(),
            [None if pd.isna(v) else v for v in frame["production_units"].tolist()],
            [None if pd.isna(v) else v for v in frame["outdoor_temp_c"].tolist()],
            anomaly,
            strict=True,
        )
    )


async def seeded_machine(
    resources: Resources, name: str, days: int = 60, profile_index: int = 0, seed: int = 7, **options: object
) -> uuid.UUID:
    frame = generate_readings(DEMO_FLEET[profile_index], "2026-01-01", days, seed=seed, **options)  # type: ignore[arg-type]
    async with transaction(resources.sessions) as session:
        machine = await machines.register(session, name)
        await ingest.upsert_readings(session, machine.id, reading_rows(frame))
    return machine.id


async def ingest_frame(resources: Resources, machine_id: uuid.UUID, frame: pd.DataFrame) -> None:
    async with transaction(resources.sessions) as session:
        await ingest.upsert_readings(session, machine_id, reading_rows(frame))


async def machine_with_frame(resources: Resources, name: str, frame: pd.DataFrame) -> uuid.UUID:
    async with transaction(resources.sessions) as session:
        machine = await machines.register(session, name)
        await ingest.upsert_readings(session, machine.id, reading_rows(frame))
    return machine.id
