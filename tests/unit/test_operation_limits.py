from __future__ import annotations

import pytest

from graphql_schema.engine.limits import measure


@pytest.mark.parametrize(
    ("query", "depth", "aliases"),
    [
        ("{ machines { id } }", 2, 0),
        ("{ a: machines { id } b: machines { id name } }", 2, 2),
        ("{ machines { models { policy { maxCvRmse } } } }", 4, 0),
        ("query { machines { ...M } } fragment M on Machine { models { champion { id } } }", 4, 0),
        ("{ machines { ... on Machine { x: id y: name } } }", 2, 2),
        ("query { machines { ...M ...M } } fragment M on Machine { n: name }", 2, 2),
        ("query { machines { ...A } } fragment A on Machine { ...B } fragment B on Machine { ...A }", 1, 0),
        ("{ not valid", 0, 0),
    ],
)
def test_depth_and_aliases_count_what_would_execute(query: str, depth: int, aliases: int) -> None:
    assert measure(query) == (depth, aliases)
