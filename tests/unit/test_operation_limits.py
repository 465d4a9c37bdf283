from __future__ import annotations

import time

import pytest
from graphql import parse

from graphql_schema.engine.limits import Size, measure
from tests.support import fragment_fan_out


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
