"""Plain objects completed at once must answer exactly as graphql-core does, errors included."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from strawberry.permission import BasePermission
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from graphql_schema.engine.plain_fields import PlainFieldsExecutionContext
from graphql_schema.scalars import SCALAR_MAP


@strawberry.enum
class Kind(enum.Enum):
    A = "a"
    B = "b"


class Refused(BasePermission):
    message = "refused"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Point:
    name: str
    value: float | None
    kind: Kind
    at: datetime
    guarded: str | None = strawberry.field(default=None, permission_classes=[Refused])

    @strawberry.field
    def doubled(self) -> float | None:
        return None if self.value is None else 2 * self.value


@dataclass
class Row:
    """Any object with the attributes will do, as for Strawberry's default resolver."""

    name: Any
    value: Any
    kind: Any = Kind.A
    at: Any = datetime(2026, 1, 1, tzinfo=UTC)
    guarded: Any = "secret"


ROWS: list[Any] = []


@strawberry.type
class Query:
    @strawberry.field
    def points(self) -> list[Point]:
        return ROWS

    @strawberry.field
    def maybe_points(self) -> list[Point | None]:
        return ROWS

    @strawberry.field
    def point(self) -> Point | None:
        return ROWS[0] if ROWS else None


def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    config = strawberry.schema.config.StrawberryConfig(scalar_map=SCALAR_MAP)
    plain = strawberry.Schema(query=Query, config=config, execution_context_class=PlainFieldsExecutionContext)
    core = strawberry.Schema(query=Query, config=config, execution_context_class=StrawberryGraphQLCoreExecutionContext)
    return plain, core


def both(query: str, rows: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    ROWS[:] = rows
    plain, core = schemas()
    answers = []
    for schema in (plain, core):
        result = schema.execute_sync(query)
        answers.append({"data": result.data, "errors": [(e.message, e.path) for e in result.errors or []]})
    return answers[0], answers[1]


GOOD = [Row("a", 1.5), Row("b", None, Kind.B), Row("c", 2)]


@pytest.mark.parametrize(
    ("query", "rows"),
    [
        ("{ points { name value kind at } }", GOOD),
        ("{ points { n: name __typename v: value name @skip(if: true) } }", GOOD),
        ("{ points { name doubled } }", GOOD),  # a resolver: graphql-core's path
        ("{ points { name guarded } }", GOOD),  # a permission extension, no resolver: still checked
        ("{ points { ... on Point { name } value } }", GOOD),
        ("{ point { name value } }", GOOD),
        ("{ points { name } }", []),
        ("{ points { name value } }", [Row("a", 1.0), Row(None, 2.0)]),  # null for a non-null field
        ("{ maybe_points: maybePoints { name } }", [Row("a", 1.0), None, Row(None, 1.0)]),
        ("{ points { name } }", [Row("a", 1.0), None]),  # null for a non-null item
        ("{ points { value } }", [Row("a", float("inf"))]),  # a value the scalar refuses
        ("{ points { value } }", [Row("a", "1.5")]),
        ("{ points { kind } }", [Row("a", 1.0, "not a kind")]),
        ("{ points { name } }", [Row(ValueError("broken"), 1.0)]),  # an exception as the value
    ],
)
def test_answers_and_errors_are_graphql_cores(query: str, rows: list[Any]) -> None:
    plain, core = both(query, rows)

    assert plain == core


def test_plain_objects_skip_graphql_cores_field_machinery(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = StrawberryGraphQLCoreExecutionContext.execute_field

    def counted(self: Any, parent_type: Any, *arguments: Any) -> Any:
        calls.append(parent_type.name)
        return original(self, parent_type, *arguments)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_field", counted)

    ROWS[:] = GOOD
    result = schemas()[0].execute_sync("{ points { name value kind at } }")

    assert result.errors is None and len(result.data["points"]) == 3  # type: ignore[index]
    assert calls == ["Query"]  # only the root field went through graphql-core's field machinery
