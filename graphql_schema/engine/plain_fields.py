"""Objects whose selected fields are all plain attributes, completed without graphql-core's per-field machinery.

For every field of every object, graphql-core builds a path entry and a resolve info (a ten-field
tuple), looks the field definition up, calls the resolver through Strawberry's wrapper and walks
``complete_value`` (non-null? list? leaf? abstract?) before it coerces the value. A
``performanceTrend`` of 500 points with six fields is 3,000 such fields: ~30 ms of CPU of the
request on a busy host, more than the database's work (profiled in-process with cProfile and yappi).

Here the selection of an object type is classified once per execution: when every selected field is
``__typename`` or a field without arguments, resolver or field extensions (Strawberry's "basic" field:
its default resolver reads the attribute of the same name) and whose type is a scalar or an enum,
possibly non-null, each object is answered with one attribute read and one ``coerce_output_value``
per field, which is what graphql-core's own path does for such a field. graphql-core's path still
runs when the operation has field middleware, and whenever a value is not what that shortcut
expects: ``None`` for a non-null field, an exception or awaitable as the value, a coercion that
fails or returns nothing. Then the whole object is completed again the usual way (a default
resolver only reads an attribute, so reading it twice changes nothing) and every error keeps
graphql-core's message, path and code.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    TypeNameMetaFieldDef,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path

from graphql_schema.engine.variables import FastVariablesExecutionContext


@dataclass(frozen=True, slots=True)
class _Plain:
    response_name: str
    #: Strawberry's default resolver of the field (``getattr`` unless configured), and the attribute it reads;
    #: ``None`` for ``__typename``.
    read: Callable[[Any, str], Any] | None
    attribute: str
    coerce: Callable[[Any], Any]
    non_null: bool


#: Values that are neither exceptions nor awaitables, recognised without asking.
_PLAIN_VALUES = frozenset({str, int, float, bool})


def plain_fields(
    schema: GraphQLSchema, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
) -> tuple[_Plain, ...] | None:
    """How to answer each field of the selection, or ``None`` if any field needs graphql-core's path."""
    plan = []
    for response_name, field_details_list in grouped_field_set.items():
        node = field_details_list[0].node
        definition = schema.get_field(parent_type, node.name.value)
        if definition is None or definition.args or node.arguments:
            return None
        field_type = definition.type
        non_null = isinstance(field_type, GraphQLNonNull)
        leaf = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
        if not is_leaf_type(leaf):
            return None
        assert isinstance(leaf, GraphQLLeafType)
        strawberry_field = definition.extensions.get("strawberry-definition")
        if definition is TypeNameMetaFieldDef:
            plan.append(_Plain(response_name, None, "", leaf.coerce_output_value, non_null))
        elif (
            getattr(definition.resolve, "_is_default", False)
            and strawberry_field is not None
            # No field extensions (a permission check, say): Strawberry marks a resolver-less field as default even
            # when extensions wrap it, and those must run.
            and strawberry_field.is_basic_field
        ):
            # What the default resolver calls: ``field.default_resolver(source, field.python_name)``.
            read, attribute = strawberry_field.default_resolver, strawberry_field.python_name
            plan.append(_Plain(response_name, read, attribute, leaf.coerce_output_value, non_null))
        else:
            return None
    return tuple(plan)


def answer(
    plan: tuple[_Plain, ...], type_name: str, source: Any, is_awaitable: Callable[[Any], bool]
) -> dict[str, Any] | None:
    """The completed fields of ``source``, or ``None`` where graphql-core must complete them itself."""
    results: dict[str, Any] = {}
    for field in plan:
        value = type_name if field.read is None else field.read(source, field.attribute)
        if value is None or value is Undefined:
            if field.non_null:
                return None
            results[field.response_name] = None
            continue
        if type(value) not in _PLAIN_VALUES and (isinstance(value, BaseException) or is_awaitable(value)):
            return None
        try:
            coerced = field.coerce(value)
        except Exception:  # noqa: BLE001 - graphql-core's path reports it, with its own message
            return None
        if coerced is None or coerced is Undefined:
            return None
        results[field.response_name] = coerced
    return results


class PlainFieldsExecutionContext(FastVariablesExecutionContext):
    """The schema's execution context: flat input lists (``variables``) and plain output fields (above)."""

    def __init__(self, *arguments: Any, **keywords: Any) -> None:
        super().__init__(*arguments, **keywords)
        self._plans: dict[tuple[int, str], tuple[GroupedFieldSet, tuple[_Plain, ...] | None]] = {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        if not (self.middleware_manager and self.middleware_manager.middlewares):
            plan = self._plan(parent_type, grouped_field_set)
            results = None if plan is None else answer(plan, parent_type.name, source_value, self.is_awaitable)
            if results is not None:
                return results
        return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: AsyncIterable[Any] | Iterable[Any],
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        """A list of plain objects at once, without graphql-core's per-item completion; else graphql-core's way."""
        completed = self._plain_list(return_type, field_details_list, path, result)
        if completed is not None:
            return completed
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)

    def _plain_list(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        path: Path,
        result: object,
    ) -> list[Any] | None:
        item_type = return_type.of_type
        non_null = isinstance(item_type, GraphQLNonNull)
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if (
            type(result) not in (list, tuple)
            or not isinstance(object_type, GraphQLObjectType)
            or object_type.is_type_of is not None
            or (self.middleware_manager and self.middleware_manager.middlewares)
            or self.get_stream_usage(field_details_list, path) is not None
        ):
            return None
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        plan = None if new_defer_usages else self._plan(object_type, grouped_field_set)
        if plan is None:
            return None
        completed = []
        for item in cast(list[Any], result):
            answered = None if item is None else answer(plan, object_type.name, item, self.is_awaitable)
            if answered is None and (item is not None or non_null):
                return None
            completed.append(answered)
        return completed

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> tuple[_Plain, ...] | None:
        """Per execution, by the identity of the selection, which graphql-core keeps for the whole execution;
        the selection is kept alive beside its plan so that its identity cannot be reused meanwhile."""
        key = (id(grouped_field_set), parent_type.name)
        cached = self._plans.get(key)
        if cached is None:
            cached = self._plans[key] = (
                grouped_field_set,
                plain_fields(self.schema, parent_type, grouped_field_set),
            )
        return cached[1]
