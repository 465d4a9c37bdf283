"""The contract's metric fields are declared where each layer needs them; all of them match the one list."""

from __future__ import annotations

from dataclasses import fields

import sqlalchemy as sa

from app.db.tables import METRIC_COLUMNS, PerformanceMetrics
from graphql_schema import inputs
from graphql_schema.types import performance


def test_every_metric_has_a_column() -> None:
    columns = {column.key: column for column in sa.inspect(PerformanceMetrics).columns}
    assert all(isinstance(columns[name].type, sa.Float) and columns[name].nullable for name in METRIC_COLUMNS)


def test_the_graphql_type_and_input_declare_every_metric_and_no_other_float() -> None:
    for declared in (performance.PerformanceMetrics, inputs.RecordMetricsInput):
        optional_floats = {field.name for field in fields(declared) if str(field.type) == "float | None"}
        assert optional_floats - {"drift_score"} == set(METRIC_COLUMNS), declared.__name__
