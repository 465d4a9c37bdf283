"""Serving predictions: from the series' champion, or from the arms of its running A/B test.

While a test runs, every timestamp is routed to arm A or B by ``route_arm`` (a hash of test, machine
and instant), so repeated requests for the same instant are served by the same version and any
replica routes identically. Every served prediction is stored with its version, test and arm: those
rows, matched later with the actual readings, are the A/B test's data.

No champion and no running test means there is nothing to serve: that is a CONFLICT (the series is
not in a state to serve), not a bad request — train a version or promote one first.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from app.db.engine import copy_records, transaction
from app.db.tables import AbTest, ModelVersion, ServedPrediction, core_table
from app.enums import ModelType, VersionStage
from app.errors import Conflict, InvalidInput
from app.ml.abtest import Arm, route_arms
from app.ml.model_types import FittedModel
from app.services.checks import camel_case, require_aware
from app.services.experiments import abtests
from app.services.fleet import machines
from app.services.fleet.ingest import OUTDOOR_TEMP_RANGE_C
from app.services.fleet.readings import to_frame
from app.services.models.model_cache import loaded_models

if TYPE_CHECKING:
    from app.runtime.resources import Resources

#: Most inputs one ``predict`` call may carry; bounds the request's memory, model time and insert.
MAX_BATCH = 10_000
#: Driver columns an input may carry, as named in frames and in ``ModelVersion.features``.
DRIVERS = ("production_units", "outdoor_temp_c")
STORED_COLUMNS = ("machine_id", "model_type", "ts", "value", "model_version_id", "ab_test_id", "arm", "created_at")


@dataclass(frozen=True)
class PredictionInput:
    timestamp: datetime
    production_units: float | None = None
    outdoor_temp_c: float | None = None


@dataclass(frozen=True)
class Served:
    timestamp: datetime
    value: float
    model_version_id: uuid.UUID
    arm: Arm | None


def check_inputs(inputs: Sequence[PredictionInput]) -> None:
    """Refuse oversized batches, instants without an offset, implausible drivers and repeated instants.

    A repeated instant is refused because both rows would be routed to, and answered by, the same
    version, so the second adds nothing but a stored duplicate.
    """
    if len(inputs) > MAX_BATCH:
        raise InvalidInput(f"inputs holds {len(inputs)} items; at most {MAX_BATCH} per call", field="inputs")
    seen: dict[datetime, int] = {}
    low, high = OUTDOOR_TEMP_RANGE_C
    for index, item in enumerate(inputs):
        where = f"inputs[{index}]"
        require_aware(f"{where}.timestamp", item.timestamp)
        instant = item.timestamp.astimezone(UTC)
        if instant in seen:
            raise InvalidInput(
                f"{where}.timestamp repeats inputs[{seen[instant]}].timestamp", field=f"{where}.timestamp"
            )
        seen[instant] = index
        production = item.production_units
        if production is not None and not (math.isfinite(production) and production >= 0):
            raise InvalidInput(
                f"{where}.productionUnits must be a finite number ≥ 0, got {production!r}",
                field=f"{where}.productionUnits",
            )
        temperature = item.outdoor_temp_c
        if temperature is not None and not (math.isfinite(temperature) and low <= temperature <= high):
            raise InvalidInput(
                f"{where}.outdoorTempC must be between {low:g} and {high:g} °C, got {temperature!r}",
                field=f"{where}.outdoorTempC",
            )


def check_drivers(inputs: Sequence[PredictionInput], versions: Sequence[ModelVersion]) -> None:
    """Every input must carry the drivers of every version that may serve it.

    With a test running, that is both arms' drivers, so whether a request is valid never depends on
    where its timestamps happen to be routed.
    """
    needed = [driver for driver in DRIVERS if any(driver in version.features for version in versions)]
    for index, item in enumerate(inputs):
        for driver in needed:
            if getattr(item, driver) is None:
                field = f"inputs[{index}].{camel_case(driver)}"
                raise InvalidInput(f"{field} is required: the serving model uses it", field=field)


async def serve(
    resources: Resources, machine_id: uuid.UUID, model_type: ModelType, inputs: Sequence[PredictionInput]
) -> list[Served]:
    """Predict for ``inputs`` (any order) and store every served prediction in one insert."""
    check_inputs(inputs)
    now = datetime.now(UTC)
    async with resources.reads() as session:
        await machines.require(session, machine_id)
        test = (await abtests.running_of_series(session, [(machine_id, model_type)])).get((machine_id, model_type))
        if test is not None and test.ends_at <= now:
            test = None  # over, though not yet completed by the periodic evaluation: its data ends at endsAt
        versions = await _serving_versions(session, machine_id, model_type, test)
        check_drivers(inputs, list(versions.values()))
        if not inputs:
            return []
        models = await loaded_models(session, list(versions.values()))
    timestamps = [item.timestamp.astimezone(UTC) for item in inputs]
    if test is None:
        arms: list[Arm | None] = [None] * len(inputs)
        version_ids = [next(iter(versions))] * len(inputs)
    else:
        arms = route_arms(str(test.id), str(machine_id), timestamps, test.traffic_split).tolist()
        version_ids = [test.model_b_id if arm == "B" else test.model_a_id for arm in arms]
    values = await asyncio.to_thread(_predict, models, version_ids, inputs, timestamps)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        index = int(bad[0])
        version = versions[version_ids[index]].version
        raise InvalidInput(
            f"version {version} could not predict inputs[{index}] (its drivers are outside what the model can use)",
            field=f"inputs[{index}]",
        )
    served = [
        Served(timestamp, float(value), version_id, arm)
        for timestamp, value, version_id, arm in zip(timestamps, values, version_ids, arms, strict=True)
    ]
    await _store(resources, machine_id, model_type, test, served, now)
    return served


async def _serving_versions(
    session: AsyncSession, machine_id: uuid.UUID, model_type: ModelType, test: AbTest | None
) -> dict[uuid.UUID, ModelVersion]:
    """Both arms while a test runs, else the champion; artifacts are left to the model cache."""
    query = sa.select(ModelVersion).options(defer(ModelVersion.artifact))
    if test is not None:
        query = query.where(ModelVersion.id.in_([test.model_a_id, test.model_b_id]))
    else:
        query = query.where(
            ModelVersion.machine_id == machine_id,
            ModelVersion.model_type == model_type,
            ModelVersion.stage == VersionStage.CHAMPION,
        )
    versions = {version.id: version for version in await session.scalars(query)}
    if not versions:
        raise Conflict(
            f"{model_type.name} of machine {machine_id} has no champion to serve predictions; "
            "train a version or promote one first",
            field="modelType",
        )
    return versions


def _predict(
    models: dict[uuid.UUID, FittedModel],
    version_ids: Sequence[uuid.UUID],
    inputs: Sequence[PredictionInput],
    timestamps: Sequence[datetime],
) -> np.ndarray:
    """Each version predicts its own rows in time order (forecasters need it), answers go back in input order."""
    values = np.full(len(inputs), np.nan)
    order = sorted(range(len(inputs)), key=timestamps.__getitem__)
    for version_id, model in models.items():
        rows = [i for i in order if version_ids[i] == version_id]
        if not rows:
            continue
        frame = to_frame(
            [(timestamps[i], math.nan, inputs[i].production_units, inputs[i].outdoor_temp_c, None) for i in rows]
        )
        values[rows] = np.asarray(model.predict(frame).value, dtype=float)
    return values


async def _store(
    resources: Resources,
    machine_id: uuid.UUID,
    model_type: ModelType,
    test: AbTest | None,
    served: list[Served],
    now: datetime,
) -> None:
    """One set-based write per call: COPY on PostgreSQL, an executemany on SQLite.

    Measured for 10,000 predictions on PostgreSQL: COPY takes about a third of the time of multi-row
    INSERTs (~0.25 s against ~0.7 s).
    """
    test_id = test.id if test is not None else None
    records = [
        (machine_id, model_type.value, item.timestamp, item.value, item.model_version_id, test_id, item.arm, now)
        for item in served
    ]
    async with transaction(resources.sessions) as session:
        if session.get_bind().dialect.name == "postgresql":
            await copy_records(session, ServedPrediction.__tablename__, STORED_COLUMNS, records)
        else:
            await session.execute(
                sa.insert(core_table(ServedPrediction)),
                [dict(zip(STORED_COLUMNS, record, strict=True)) for record in records],
            )
