"""The latest performance of every series is the row migration 0004's ranking picked, found per series now."""

from __future__ import annotations

import importlib
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.db.engine import transaction
from app.db.tables import Machine, ModelVersion, PerformanceMetrics
from app.enums import MetricsSource, ModelType, VersionStage
from app.runtime.resources import Resources
from app.services.tracking import performance

#: The definition the view had before it was rewritten, as a query: ranking every row of every series.
RANKED = importlib.import_module("migrations.versions.0007_latest_performance_per_series").OLD_LATEST_VIEW.replace(
    "CREATE VIEW v_latest_model_performance AS", ""
)
START = datetime(2026, 1, 1, tzinfo=UTC)


async def _fleet(resources: Resources, machines: int, seed: int) -> None:
    """Series with and without champions, candidates' rows, validations, version-less (external) rows,
    evaluations without a window, and ties on data time broken by evaluation time and id."""
    chooser = random.Random(seed)
    async with transaction(resources.sessions) as session:
        for index in range(machines):
            machine = Machine(id=uuid.uuid4(), name=f"machine-{seed}-{index}", created_at=START)
            session.add(machine)
            await session.flush()
            for model_type in ModelType:
                versions = []
                for number in range(1, chooser.randint(0, 3) + 1):
                    stage = VersionStage.CANDIDATE if chooser.random() < 0.5 else VersionStage.ARCHIVED
                    versions.append(_version(machine.id, model_type, number, stage))
                if versions and chooser.random() < 0.8:
                    versions[chooser.randrange(len(versions))].stage = VersionStage.CHAMPION
                session.add_all(versions)
                await session.flush()
                for version in [*versions, None]:
                    for _ in range(chooser.randint(0, 4)):
                        session.add(_metrics(chooser, machine.id, model_type, version))


def _version(machine_id: uuid.UUID, model_type: ModelType, number: int, stage: VersionStage) -> ModelVersion:
    return ModelVersion(
        machine_id=machine_id,
        model_type=model_type,
        version=number,
        stage=stage,
        artifact=b"",
        features=[],
        hyperparameters={},
        trained_from=START,
        trained_to=START,
        training_rows=1,
        reference_profile={},
    )


def _metrics(
    chooser: random.Random, machine_id: uuid.UUID, model_type: ModelType, version: ModelVersion | None
) -> PerformanceMetrics:
    source = (
        MetricsSource.EXTERNAL
        if version is None
        else chooser.choice([MetricsSource.TRAINING_VALIDATION, MetricsSource.MONITORING])
    )
    window_end = START + timedelta(hours=chooser.randint(0, 3)) if chooser.random() < 0.8 else None
    return PerformanceMetrics(
        machine_id=machine_id,
        model_type=model_type,
        model_version_id=version.id if version else None,
        source=source,
        evaluated_at=START + timedelta(hours=chooser.randint(0, 3)),
        window_end=window_end,
        sample_count=24,
        cv_rmse=chooser.random(),
        extra={},
        drift_detected=False,
    )


async def _ids(resources: Resources, query: Any) -> dict[tuple[Any, Any], uuid.UUID]:
    async with resources.reads() as session:
        rows = await session.execute(query)
    return {
        (uuid.UUID(str(machine_id)), str(model_type)): uuid.UUID(str(row_id)) for row_id, machine_id, model_type in rows
    }


async def test_the_view_picks_what_ranking_every_row_picked(resources: Resources) -> None:
    for seed in range(3):
        await _fleet(resources, machines=6, seed=seed)
    ranked = await _ids(resources, sa.text(f"SELECT id, machine_id, model_type FROM ({RANKED}) old"))
    found = await _ids(resources, sa.text("SELECT id, machine_id, model_type FROM v_latest_model_performance"))
    assert found == ranked and len(found) > 20

    some = sorted({machine_id for machine_id, _ in ranked}, key=str)[:5]
    async with resources.reads() as session:
        rows = await performance.latest_for_series(session, [(m, t) for m in some for t in ModelType])
    assert {key: row.id for key, row in rows.items()} == {
        (machine_id, ModelType(model_type)): row_id
        for (machine_id, model_type), row_id in ranked.items()
        if machine_id in some
    }
