"""The root fields an operation will run, with fragments on the root type resolved.

Access control and the audit trail both reason about root fields (``Mutation.triggerRetrain``), never
about resolvers, so they stay correct however the resolvers change.
"""

from __future__ import annotations

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

from graphql_schema.engine.limits import dependency_order

ROOT_TYPE_NAMES: dict[OperationType, str] = {
    OperationType.QUERY: "Query",
    OperationType.MUTATION: "Mutation",
    OperationType.SUBSCRIPTION: "Subscription",
}


#: A root field node and how many times the operation runs it (a fragment spread twice runs its fields twice).
RootField = tuple[FieldNode, int]


def root_field_nodes(document: DocumentNode, operation_name: str | None) -> tuple[str, list[RootField]]:
    """(root type name, root field nodes in order of first appearance, each with its count) of the operation.

    Fields under ``@skip``/``@include`` are kept, so the answer errs on the side of more fields. Each
    fragment is resolved once, in dependency order, so the cost stays linear in the document's size
    even when spreads multiply the fields exponentially (a spread closing a cycle adds nothing).
    """
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return "", []
    fragments: dict[str, FragmentDefinitionNode] = {}
    for node in document.definitions:
        if isinstance(node, FragmentDefinitionNode):
            fragments.setdefault(node.name.value, node)
    resolved: dict[str, _Counts] = {}
    for name in dependency_order(fragments):
        resolved[name] = _counts(fragments[name].selection_set, resolved)
    return ROOT_TYPE_NAMES[operation.operation], list(_counts(operation.selection_set, resolved).values())


_Counts = dict[int, RootField]  # keyed by the node's identity: equal-looking fields elsewhere are other nodes


def _counts(selections: SelectionSetNode, fragments: dict[str, _Counts]) -> _Counts:
    found: _Counts = {}
    for node in selections.selections:
        if isinstance(node, FieldNode):
            _add(found, {id(node): (node, 1)})
        elif isinstance(node, InlineFragmentNode):
            _add(found, _counts(node.selection_set, fragments))
        elif isinstance(node, FragmentSpreadNode):
            _add(found, fragments.get(node.name.value, {}))
    return found


def _add(into: _Counts, more: _Counts) -> None:
    for key, (node, count) in more.items():
        previous = into.get(key)
        into[key] = (node, count + (previous[1] if previous is not None else 0))
