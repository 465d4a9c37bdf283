"""The partial unique indexes carry the system's invariants; show the database enforces each one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.db.engine import transaction
from app.db.tables import Machine, ModelVersion, TrainingJob
from app.enums import JobStatus, ModelType, TriggerType, VersionStage
from app.runtime.resources import Resources


async def _machine(resources: Resources) -> uuid.UUID:
    async with transaction(resources.sessions) as session:
        machine = Machine(name=f"m-{uuid.uuid4().hex[:8]}")
        session.add(machine)
    return machine.id


def _job(machine_id: uuid.UUID, status: JobStatus) -> TrainingJob:
    return TrainingJob(
        machine_id=machine_id,
        model_type=ModelType.BASELINE,
        trigger_type=TriggerType.MANUAL,
        status=status,
        progress=0.0,
        cancel_requested=False,
    )


def _version(machine_id: uuid.UUID, number: int, stage: VersionStage) -> ModelVersion:
    now = datetime.now(UTC)
    return ModelVersion(
        machine_id=machine_id,
        model_type=ModelType.BASELINE,
        version=number,
        stage=stage,
        artifact=b"x",
        features=[],
        hyperparameters={},
        trained_from=now,
        trained_to=now,
        training_rows=1,
        reference_profile={},
    )


async def test_one_active_job_per_series(resources: Resources) -> None:
    machine_id = await _machine(resources)
    async with transaction(resources.sessions) as session:
        session.add_all(
            [
                _job(machine_id, JobStatus.COMPLETED),
                _job(machine_id, JobStatus.FAILED),
                _job(machine_id, JobStatus.PENDING),
            ]
        )

    with pytest.raises(IntegrityError):
        async with transaction(resources.sessions) as session:
            session.add(_job(machine_id, JobStatus.RUNNING))


async def test_one_champion_per_series(resources: Resources) -> None:
    machine_id = await _machine(resources)
    async with transaction(resources.sessions) as session:
        session.add_all(
            [
                _version(machine_id, 1, VersionStage.ARCHIVED),
                _version(machine_id, 2, VersionStage.CHAMPION),
                _version(machine_id, 3, VersionStage.CANDIDATE),
            ]
        )

    with pytest.raises(IntegrityError):
        async with transaction(resources.sessions) as session:
            session.add(_version(machine_id, 4, VersionStage.CHAMPION))


async def test_views_exist_and_answer(resources: Resources) -> None:
    async with resources.sessions() as session:
        for view in ("v_latest_model_performance", "v_active_ab_tests", "v_unresolved_model_alerts"):
            assert (await session.execute(sa.text(f"SELECT count(*) FROM {view}"))).scalar_one() == 0


async def test_enum_columns_refuse_unknown_values(resources: Resources) -> None:
    machine_id = await _machine(resources)
    statement = sa.insert(TrainingJob.__table__).values(
        id=uuid.uuid4(),
        machine_id=machine_id,
        model_type=ModelType.BASELINE,
        trigger_type=TriggerType.MANUAL,
        status=sa.literal_column("'sleeping'"),
        progress=0.0,
        created_at=datetime.now(UTC),
        cancel_requested=False,
    )

    with pytest.raises(IntegrityError):
        async with transaction(resources.sessions) as session:
            await session.execute(statement)
