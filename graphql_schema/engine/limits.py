"""Depth and alias limits, checked once per distinct document and before execution.

Strawberry's QueryDepthLimiter and MaxAliasesLimiter add validation rules per operation, which defeats
ValidationCache: measured here, each added ~1.1 ms to an operation that otherwise costs ~0.1 ms. The
same two numbers are a pure function of the query text, so they are computed once per text and kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from graphql.error import GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from graphql_schema.engine.constants import DOCUMENT_CACHE_SIZE
from graphql_schema.engine.refusals import refuse


@lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
def measure(query: str) -> tuple[int, int]:
    """(deepest field nesting, number of aliased fields) of every operation in ``query``."""
    try:
        document = parse(query)
    except GraphQLSyntaxError:
        return 0, 0  # the parser reports it with a proper location
    return _measure(document)


def _measure(document: DocumentNode) -> tuple[int, int]:
    fragments = {node.name.value: node for node in document.definitions if isinstance(node, FragmentDefinitionNode)}
    depth = 0
    aliases = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            depth = max(depth, _depth(definition.selection_set, fragments, frozenset()))
            aliases += sum(1 for field in _fields(definition.selection_set, fragments, frozenset()) if field.alias)
    return depth, aliases


def _depth(
    selections: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]
) -> int:
    if selections is None:
        return 0
    deepest = 0
    for node in selections.selections:
        if isinstance(node, FieldNode):
            deepest = max(deepest, 1 + _depth(node.selection_set, fragments, seen))
        elif isinstance(node, InlineFragmentNode):
            deepest = max(deepest, _depth(node.selection_set, fragments, seen))
        elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments and node.name.value not in seen:
            fragment = fragments[node.name.value]
            deepest = max(deepest, _depth(fragment.selection_set, fragments, seen | {node.name.value}))
    return deepest


def _fields(
    selections: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]
) -> Iterator[FieldNode]:
    """Every field as executed: a fragment spread twice counts twice, as it is resolved twice."""
    if selections is None:
        return
    for node in selections.selections:
        if isinstance(node, FieldNode):
            yield node
            yield from _fields(node.selection_set, fragments, seen)
        elif isinstance(node, InlineFragmentNode):
            yield from _fields(node.selection_set, fragments, seen)
        elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments and node.name.value not in seen:
            yield from _fields(fragments[node.name.value].selection_set, fragments, seen | {node.name.value})


class OperationLimits(SchemaExtension):
    """Rejects over-deep and alias-heavy operations before any resolver runs."""

    def __init__(self, *, max_depth: int, max_aliases: int) -> None:
        self.max_depth = max_depth
        self.max_aliases = max_aliases

    def on_execute(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None:
            depth, aliases = measure(query)
            problem = None
            if depth > self.max_depth:
                problem = f"query depth {depth} exceeds the limit of {self.max_depth}"
            elif aliases > self.max_aliases:
                problem = f"{aliases} aliases exceed the limit of {self.max_aliases}"
            if problem is not None:
                refuse(self.execution_context, GraphQLError(problem, extensions={"code": "BAD_USER_INPUT"}))
        yield
