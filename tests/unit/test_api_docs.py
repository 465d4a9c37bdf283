"""docs/api.md cannot rot: every example is valid against the schema, and every operation has one.

An example is a ```graphql block; the ```json block right after it, if any, holds its variables.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
    validate,
)
from graphql import build_schema as parse_sdl
from graphql.execution.values import get_variable_values

from graphql_schema.schema import build_schema

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "api.md"
CONTRACT = REPO / "docs" / "contract.graphql"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
ROOT_TYPES = {
    OperationType.QUERY: "Query",
    OperationType.MUTATION: "Mutation",
    OperationType.SUBSCRIPTION: "Subscription",
}


@dataclass(frozen=True)
class Example:
    line: int
    text: str
    variables: dict[str, Any] | None

    @property
    def document(self) -> DocumentNode:
        return parse(self.text)

    @property
    def operations(self) -> list[OperationDefinitionNode]:
        return [node for node in self.document.definitions if isinstance(node, OperationDefinitionNode)]


def examples() -> list[Example]:
    text = GUIDE.read_text()
    blocks = [
        (match.group(1), match.group(2), text.count("\n", 0, match.start()) + 1) for match in FENCE.finditer(text)
    ]
    found = []
    for index, (language, body, line) in enumerate(blocks):
        if language != "graphql":
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        variables = json.loads(following[1]) if following is not None and following[0] == "json" else None
        found.append(Example(line, body, variables))
    return found


EXAMPLES = examples()


@cache
def schema() -> GraphQLSchema:
    return build_schema()._schema


def documented_operations() -> set[str]:
    """``Root.field`` for every root field an example selects."""
    return {
        f"{ROOT_TYPES[operation.operation]}.{selection.name.value}"
        for example in EXAMPLES
        for operation in example.operations
        for selection in operation.selection_set.selections
        if isinstance(selection, FieldNode)
    }


def root_fields(graphql_schema: GraphQLSchema) -> set[str]:
    roots = (graphql_schema.query_type, graphql_schema.mutation_type, graphql_schema.subscription_type)
    return {f"{root.name}.{field}" for root in roots if root is not None for field in root.fields}


def label(example: Example) -> str:
    names = [operation.name.value for operation in example.operations if operation.name]
    return f"line {example.line}: {', '.join(names) or 'anonymous'}"


@pytest.mark.parametrize("example", EXAMPLES, ids=label)
def test_example_is_valid_against_the_schema(example: Example) -> None:
    assert validate(schema(), example.document) == []


@pytest.mark.parametrize("example", EXAMPLES, ids=label)
def test_example_variables_are_declared_and_coerce_to_their_types(example: Example) -> None:
    """A required variable missing from the block is a coercion error too."""
    given = example.variables or {}
    for operation in example.operations:
        definitions = operation.variable_definitions or ()
        undeclared = set(given) - {node.variable.name.value for node in definitions}
        coerced = get_variable_values(schema(), definitions, given)

        assert not undeclared, f"the variables block has {sorted(undeclared)}, which the operation does not declare"
        assert not isinstance(coerced, list), [error.message for error in coerced]


def test_every_contract_operation_has_an_example() -> None:
    missing = root_fields(parse_sdl(CONTRACT.read_text())) - documented_operations()

    assert not missing, f"docs/api.md has no example of {sorted(missing)}"


def test_every_operation_of_the_schema_has_an_example() -> None:
    missing = root_fields(schema()) - documented_operations()

    assert not missing, f"docs/api.md has no example of {sorted(missing)}: add one with its variables and errors"
