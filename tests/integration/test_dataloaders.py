"""Nested fields are batched: the statement count of a fleet query does not grow with the fleet."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from app.db.engine import transaction
from app.db.tables import PerformanceMetrics
from app.enums import AlertType, MetricsSource, ModelType, Severity
from app.runtime.resources import Resources
from app.services.alerting import alerts
from tests.support import data_of, graphql

FLEET = """{ machines { id name readingsCount lastReadingAt models { modelType latestPerformance { cvRmse modelVersion }
  openAlerts { id severity } champion { id } policy { maxCvRmse } } } }"""


@contextmanager
def counted_statements(resources: Resources) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(resources.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(resources.engine.sync_engine, "before_cursor_execute", record)


async def _add_machines(client: httpx.AsyncClient, resources: Resources, names: list[str]) -> None:
    for name in names:
        result = await graphql(client, "mutation($n: String!) { registerMachine(name: $n) { id } }", {"n": name})
        machine_id = uuid.UUID(data_of(result)["registerMachine"]["id"])
        async with transaction(resources.sessions) as session:
            for model_type in ModelType:
                session.add(
                    PerformanceMetrics(
                        machine_id=machine_id,
                        model_type=model_type,
                        source=MetricsSource.EXTERNAL,
                        sample_count=1,
                        cv_rmse=0.2,
                        extra={},
                        drift_detected=False,
                    )
                )
            await alerts.raise_alert(
                session,
                machine_id=machine_id,
                model_type=ModelType.BASELINE,
                alert_type=AlertType.DRIFT,
                severity=Severity.WARNING,
                message="drift",
            )


async def test_fleet_query_statement_count_is_independent_of_fleet_size(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    await _add_machines(client, resources, [f"small-{index}" for index in range(2)])
    with counted_statements(resources) as small:
        small_fleet = data_of(await graphql(client, FLEET))["machines"]

    await _add_machines(client, resources, [f"large-{index}" for index in range(10)])
    with counted_statements(resources) as large:
        large_fleet = data_of(await graphql(client, FLEET))["machines"]

    assert len(small_fleet) == 2 and len(large_fleet) == 12
    assert all(
        len(series["openAlerts"]) == (series["modelType"] == "BASELINE")
        for machine in large_fleet
        for series in machine["models"]
    )
    assert all(series["latestPerformance"]["cvRmse"] == 0.2 for machine in large_fleet for series in machine["models"])
    assert len(large) == len(small), (small, large)
    assert len(large) <= 7  # six batched reads and the API token lookup
