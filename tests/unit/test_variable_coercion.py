"""The fast variable path must coerce exactly as graphql-core does, and hand every doubtful value back to it."""

from __future__ import annotations

import math
from typing import Any

import pytest
from graphql import GraphQLInputObjectType, GraphQLList, GraphQLNonNull, parse
from graphql.utilities import coerce_input_value

from graphql_schema.engine.variables import FastVariablesExecutionContext, FlatListCoercer, fast_coerced_variables
from graphql_schema.schema import build_schema

SCHEMA = build_schema()._schema
READING_INPUT = SCHEMA.get_type("ReadingInput")
INGEST = parse(
    "mutation Ingest($m: UUID!, $r: [ReadingInput!]!) { ingestReadings(machineId: $m, readings: $r) { inserted } }"
)
WELL_FORMED: list[dict[str, Any]] = [
    {"timestamp": "2026-01-01T00:00:00Z", "energyKwh": 1.5},
    {"timestamp": "2026-01-01T01:00:00+01:00", "energyKwh": 2, "productionUnits": 3, "outdoorTempC": -4.25},
    {"timestamp": "2026-01-01T02:00:00Z", "energyKwh": 0.0, "productionUnits": None, "isAnomaly": True},
]


def coercer() -> FlatListCoercer:
    assert isinstance(READING_INPUT, GraphQLInputObjectType)
    found = FlatListCoercer.of(READING_INPUT)
    assert found is not None
    return found


def graphql_core(items: object) -> object:
    return coerce_input_value(items, GraphQLNonNull(GraphQLList(GraphQLNonNull(READING_INPUT))))


def test_well_formed_readings_are_coerced_exactly_as_graphql_core_does() -> None:
    fast = coercer().coerce(WELL_FORMED)

    assert fast is not None and fast == graphql_core(WELL_FORMED)
    assert [list(item) for item in fast] == [list(item) for item in graphql_core(WELL_FORMED)]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "items",
    [
        [{"timestamp": "2026-01-01T00:00:00Z"}],  # required field missing
        [{"timestamp": "2026-01-01T00:00:00Z", "energyKwh": None}],  # required field null
        [{"timestamp": "2026-01-01T00:00:00Z", "energyKwh": 1.0, "unknown": 1}],
        [{"timestamp": "2026-01-01T00:00:00Z", "energyKwh": "1.0"}],  # a string where a Float goes
        [{"timestamp": "2026-01-01T00:00:00Z", "energyKwh": math.inf}],
        [{"timestamp": "2026-01-01T00:00:00Z", "energyKwh": math.nan}],
        [{"timestamp": "yesterday", "energyKwh": 1.0}],
        [{"timestamp": "2026-01-01T00:00:00Z", "energyKwh": 1.0, "isAnomaly": "yes"}],
        [WELL_FORMED[0], None],
        [WELL_FORMED[0], ["not", "an", "object"]],
        {"timestamp": "2026-01-01T00:00:00Z", "energyKwh": 1.0},  # one object, not a list
        "readings",
    ],
)
def test_anything_unexpected_is_left_to_graphql_core(items: object) -> None:
    """Declining keeps graphql-core's own error message, path and code for every invalid value."""
    assert coercer().coerce(items) is None


def test_only_the_flat_list_variables_of_the_chosen_operation_take_the_fast_path() -> None:
    raw = {"m": "6f1c1f4e-8d0b-4a6e-9d43-5b0c1c2d3e4f", "r": WELL_FORMED}

    chosen = fast_coerced_variables(SCHEMA, INGEST, "Ingest", raw)
    unknown_operation = fast_coerced_variables(SCHEMA, INGEST, "Other", raw)
    malformed = fast_coerced_variables(SCHEMA, INGEST, None, {**raw, "r": [{"energyKwh": 1.0}]})

    assert list(chosen) == ["r"] and chosen["r"] == graphql_core(WELL_FORMED)
    assert unknown_operation == {} and malformed == {}


def test_the_executor_sees_the_fast_values_and_the_raw_sources() -> None:
    """Strawberry and graphql-core read both: the coerced values for resolvers, the sources for error paths."""
    raw = {"m": "6f1c1f4e-8d0b-4a6e-9d43-5b0c1c2d3e4f", "r": WELL_FORMED}
    executor = FastVariablesExecutionContext.build(SCHEMA, INGEST, raw_variable_values=raw)

    assert not isinstance(executor, list)
    assert executor.variable_values.coerced["r"] == graphql_core(WELL_FORMED)
    assert executor.variable_values.sources["r"].value is WELL_FORMED
