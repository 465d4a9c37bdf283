"""The siblings of a failed field or list item run to their end instead of being cancelled before they start."""

from __future__ import annotations

import asyncio

import pytest
from graphql.execution import executor

from graphql_schema.engine.execution import gather_settled
from graphql_schema.schema import build_schema


async def test_a_failure_lets_its_siblings_finish_and_is_raised_after_them() -> None:
    finished: list[str] = []

    async def failing() -> str:
        raise ValueError("first")

    async def sibling(name: str) -> str:
        await asyncio.sleep(0.01)
        finished.append(name)
        return name

    with pytest.raises(ValueError, match="first"):
        await gather_settled(sibling("a"), failing(), sibling("b"))

    assert sorted(finished) == ["a", "b"]
    assert await gather_settled(sibling("c"), sibling("d")) == ["c", "d"]


def test_the_schema_makes_graphql_core_gather_siblings_this_way() -> None:
    build_schema()

    assert executor.gather_with_cancel is gather_settled
