from __future__ import annotations

import time

import pytest
from graphql import get_introspection_query, parse

from graphql_schema.engine.limits import MAX_INTROSPECTION_DEPTH, MAX_INTROSPECTION_LISTS, Size, measure
from tests.support import STANDARD_INTROSPECTION_QUERIES, fragment_fan_out


@pytest.mark.parametrize(
    ("query", "size"),
    [
        ("{ machines { id } }", Size(2, 0, 2)),
        ("{ a: machines { id } b: machines { id name } }", Size(2, 2, 5)),
        ("{ machines { models { policy { maxCvRmse } } } }", Size(4, 0, 4)),
        ("query { machines { ...M } } fragment M on Machine { models { champion { id } } }", Size(4, 0, 4)),
        ("{ machines { ... on Machine { x: id y: name } } }", Size(2, 2, 3)),
        ("query { machines { ...M ...M } } fragment M on Machine { n: name }", Size(2, 2, 3)),
        ("query { machines { ...A } } fragment A on Machine { ...B } fragment B on Machine { ...A }", Size(1, 0, 1)),
        ("query { ...B } fragment A on Query { machines { id } } fragment B on Query { ...A ...A }", Size(2, 0, 4)),
    ],
)
def test_depth_aliases_and_fields_count_what_would_execute(query: str, size: Size) -> None:
    assert measure(parse(query)) == size


def test_a_fragment_fan_out_is_measured_in_linear_time() -> None:
    document = parse(fragment_fan_out(400))
    started = time.perf_counter()

    size = measure(document)

    assert time.perf_counter() - started < 0.5  # linear: ~5 ms here; the old measure doubled per fragment
    assert size.fields == 2**399
    assert size.depth == 1


@pytest.mark.parametrize("name", sorted(STANDARD_INTROSPECTION_QUERIES))
def test_standard_introspection_queries_fit_introspection_bounds_and_add_no_data_depth(name: str) -> None:
    size = measure(parse(STANDARD_INTROSPECTION_QUERIES[name]))

    assert size.depth <= 1  # __typename at most; __schema and __type are measured apart
    assert 13 <= size.introspection_depth <= MAX_INTROSPECTION_DEPTH
    assert size.lists <= MAX_INTROSPECTION_LISTS


def test_introspection_does_not_hide_data_depth_and_is_bounded_on_its_own() -> None:
    deep_types = get_introspection_query(type_depth=30)
    multiplying = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    beside = "{ __schema { queryType { name } } machines { models { machine { id } } } }"

    assert measure(parse(deep_types)).introspection_depth == 36
    assert measure(parse(multiplying)).lists == 3
    assert measure(parse(beside)) == Size(depth=4, fields=7, introspection_depth=3)
