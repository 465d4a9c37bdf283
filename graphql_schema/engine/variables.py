"""Variable coercion with a fast path for long lists of flat input objects, such as ``ingestReadings``' readings.

graphql-core coerces a variable by walking its value generically: for every item and every field it
asks again whether the type is non-null, a list, an input object or a leaf, and before that it walks
the whole value once more to guard against nesting too deep for the interpreter. For 50,000 readings
that was ~0.8 s of CPU time of a ~1.6 s call (measured here), more than the database write.

The fast path takes a variable whose type is a list of a non-null input object that has only scalar
fields (``[ReadingInput!]!``), and whose value is well-formed: a JSON list of objects whose keys are all
fields of the type, with every required field present and non-null, and every value accepted by its
scalar's own ``coerce_input_value``. It produces exactly what graphql-core produces: per item, a dict
with the coerced fields (and the defaults of absent optional ones) in the type's field order, passed
through the type's ``out_type``. At the first thing it does not expect (a string where a number should
be, a missing or unknown field, an infinite float, a timestamp the scalar refuses, a ``null`` item), it
gives that variable up and graphql-core coerces it as usual, so every error keeps graphql-core's
message, path and code. Such a value is nested three levels deep, so the nesting guard has nothing to
guard against.

Mechanics: ``Executor.build`` coerces all variables in one call, so the fast path coerces its variables
first, passes graphql-core an empty list in their place (a valid value of the same type), and puts the
coerced lists and their raw values into the executor's variable values afterwards.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    Executor,
    GraphQLBoolean,
    GraphQLError,
    GraphQLFloat,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    Undefined,
)
from graphql.utilities import type_from_ast
from graphql.utilities.coerce_input_value import coerce_default_value
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

_OTHER, _FLOAT, _BOOLEAN = 0, 1, 2


@dataclass(frozen=True)
class _Field:
    name: str
    #: Where graphql-core puts the coerced value: the field's ``out_name``, else its name.
    key: str
    kind: int
    coerce: Callable[[Any], Any]
    non_null: bool
    #: Absent and not required: the coerced default, or ``Undefined`` to leave the key out.
    default: Any
    required: bool


class FlatListCoercer:
    """Coerces a list of one flat input object type, or declines; see the module docstring."""

    def __init__(self, input_type: GraphQLInputObjectType, fields: tuple[_Field, ...]) -> None:
        self._fields = fields
        self._names = frozenset(field.name for field in fields)
        self._out_type = input_type.out_type

    @classmethod
    def of(cls, input_type: GraphQLInputObjectType) -> FlatListCoercer | None:
        """``None`` unless every field is a scalar and the type is not a OneOf input."""
        if input_type.is_one_of:
            return None
        fields = []
        for name, field in input_type.fields.items():
            non_null = isinstance(field.type, GraphQLNonNull)
            leaf = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if not isinstance(leaf, GraphQLScalarType):
                return None
            kind = _FLOAT if leaf is GraphQLFloat else _BOOLEAN if leaf is GraphQLBoolean else _OTHER
            required = non_null and field.default_value is Undefined and field.default is None
            default = Undefined if required else coerce_default_value(field)
            fields.append(
                _Field(name, field.out_name or name, kind, leaf.coerce_input_value, non_null, default, required)
            )
        return cls(input_type, tuple(fields))

    def coerce(self, items: object) -> list[Any] | None:
        """What graphql-core's ``coerce_input_value`` returns for ``items``, or ``None`` to let it decide."""
        if type(items) is not list:
            return None
        names, fields, out_type = self._names, self._fields, self._out_type
        coerced_items = []
        for item in items:
            if type(item) is not dict or not names.issuperset(item):
                return None
            coerced: dict[str, Any] = {}
            for field in fields:
                value = item.get(field.name, Undefined)
                if value is Undefined:
                    if field.required:
                        return None
                    if field.default is not Undefined:
                        coerced[field.key] = field.default
                elif value is None:
                    if field.non_null:
                        return None
                    coerced[field.key] = None
                elif field.kind == _FLOAT and type(value) is float:
                    if not math.isfinite(value):
                        return None
                    coerced[field.key] = value
                elif field.kind == _BOOLEAN and type(value) is bool:
                    coerced[field.key] = value
                else:
                    try:
                        coerced[field.key] = field.coerce(value)
                    except Exception:  # noqa: BLE001 - graphql-core treats any failure as invalid; so it decides
                        return None
            coerced_items.append(out_type(coerced))
        return coerced_items


_COERCERS: weakref.WeakKeyDictionary[GraphQLInputObjectType, FlatListCoercer | None] = weakref.WeakKeyDictionary()


def _coercer(input_type: GraphQLInputObjectType) -> FlatListCoercer | None:
    if input_type not in _COERCERS:
        _COERCERS[input_type] = FlatListCoercer.of(input_type)
    return _COERCERS[input_type]


def _operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    """The operation graphql-core will run; ``None`` where it will report an error instead."""
    operations = [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((node for node in operations if node.name and node.name.value == operation_name), None)


def fast_coerced_variables(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, raw: dict[str, Any]
) -> dict[str, list[Any]]:
    """Coerced values of the variables the fast path can take, by name."""
    if not raw:  # most operations have no variables
        return {}
    operation = _operation(document, operation_name)
    found: dict[str, list[Any]] = {}
    for definition in (operation.variable_definitions or ()) if operation else ():
        name = definition.variable.name.value
        if name not in raw:
            continue
        variable_type = type_from_ast(schema, definition.type)
        if isinstance(variable_type, GraphQLNonNull):
            variable_type = variable_type.of_type
        if not (isinstance(variable_type, GraphQLList) and isinstance(variable_type.of_type, GraphQLNonNull)):
            continue
        item_type = variable_type.of_type.of_type
        if not isinstance(item_type, GraphQLInputObjectType):
            continue
        coercer = _coercer(item_type)
        coerced = coercer.coerce(raw[name]) if coercer else None
        if coerced is not None:
            found[name] = coerced
    return found


class FastVariablesExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, coercing flat input lists on the fast path (module docstring)."""

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        *arguments: Any,
        **keywords: Any,
    ) -> list[GraphQLError] | Executor:
        fast = fast_coerced_variables(schema, document, operation_name, raw_variable_values or {})
        if not fast:
            return super().build(
                schema, document, root_value, context_value, raw_variable_values, operation_name, *arguments, **keywords
            )
        placeholders = {**(raw_variable_values or {}), **dict.fromkeys(fast, [])}
        executor = super().build(
            schema, document, root_value, context_value, placeholders, operation_name, *arguments, **keywords
        )
        if isinstance(executor, list):
            return executor
        variables = executor.variable_values
        for name, coerced in fast.items():
            variables.coerced[name] = coerced
            variables.sources[name] = variables.sources[name]._replace(value=(raw_variable_values or {})[name])
        return executor
