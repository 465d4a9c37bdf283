"""The root fields an operation will run, with fragments on the root type resolved.

Access control and the audit trail both reason about root fields (``Mutation.triggerRetrain``), never
about resolvers, so they stay correct however the resolvers change.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    get_operation_ast,
)

ROOT_TYPE_NAMES: dict[OperationType, str] = {
    OperationType.QUERY: "Query",
    OperationType.MUTATION: "Mutation",
    OperationType.SUBSCRIPTION: "Subscription",
}


def root_field_nodes(document: DocumentNode, operation_name: str | None) -> tuple[str, list[FieldNode]]:
    """(root type name, root field nodes in document order) of the operation that will run.

    A fragment spread twice yields its fields twice, as they are executed twice; fields under
    ``@skip``/``@include`` are kept, so the answer errs on the side of more fields.
    """
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return "", []
    fragments = {node.name.value: node for node in document.definitions if isinstance(node, FragmentDefinitionNode)}
    return ROOT_TYPE_NAMES[operation.operation], list(_fields(operation.selection_set, fragments, frozenset()))


def _fields(
    selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]
) -> Iterator[FieldNode]:
    for node in selections.selections:
        if isinstance(node, FieldNode):
            yield node
        elif isinstance(node, InlineFragmentNode):
            yield from _fields(node.selection_set, fragments, seen)
        elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments and node.name.value not in seen:
            yield from _fields(fragments[node.name.value].selection_set, fragments, seen | {node.name.value})
