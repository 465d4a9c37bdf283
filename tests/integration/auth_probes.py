"""Minimal valid operations built from the schema itself, so every new root field is probed automatically."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    get_named_type,
    is_composite_type,
    is_required_argument,
    is_required_input_field,
)

from app.enums import Role
from app.services.access.principals import ROLE_RANK
from graphql_schema.engine.auth import required_role
from graphql_schema.schema import build_schema

SCHEMA: GraphQLSchema = build_schema()._schema
DENIALS = {"UNAUTHENTICATED", "FORBIDDEN"}

SCALAR_SAMPLES: dict[str, Callable[[], Any]] = {
    "UUID": lambda: str(uuid.uuid4()),
    "String": lambda: f"probe-{uuid.uuid4().hex[:8]}",
    "ID": lambda: "1",
    "Int": lambda: 1,
    "Float": lambda: 1.0,
    "Boolean": lambda: False,
    "DateTime": lambda: "2026-01-01T00:00:00Z",
    "JSON": lambda: {},
}


def root_fields(root: str) -> list[tuple[str, GraphQLField]]:
    root_type = SCHEMA.get_type(root)
    return sorted(root_type.fields.items())  # type: ignore[union-attr]


def minimal_value(type_: GraphQLInputType) -> Any:
    """The smallest value the type accepts: one list item, required input fields only."""
    if isinstance(type_, GraphQLNonNull):
        return minimal_value(type_.of_type)
    if isinstance(type_, GraphQLList):
        return [minimal_value(type_.of_type)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return {
            name: minimal_value(field.type) for name, field in type_.fields.items() if is_required_input_field(field)
        }
    assert isinstance(type_, GraphQLScalarType)
    assert type_.name in SCALAR_SAMPLES, f"add a sample value for the new scalar {type_.name} to SCALAR_SAMPLES"
    return SCALAR_SAMPLES[type_.name]()


def probe(
    operation: str, name: str, field: GraphQLField, also: frozenset[str] = frozenset()
) -> tuple[str, dict[str, Any]]:
    """``operation Probe($a: T!) { name(a: $a) { __typename } }`` with the required arguments and ``also``."""
    required = {
        argument: definition
        for argument, definition in field.args.items()
        if is_required_argument(definition) or argument in also
    }
    signature = ", ".join(f"${argument}: {definition.type}" for argument, definition in required.items())
    arguments = ", ".join(f"{argument}: ${argument}" for argument in required)
    selection = " { __typename }" if is_composite_type(get_named_type(field.type)) else ""
    document = (
        f"{operation} Probe{f'({signature})' if signature else ''} "
        f"{{ {name}{f'({arguments})' if arguments else ''}{selection} }}"
    )
    return document, {argument: minimal_value(definition.type) for argument, definition in required.items()}


def allowed(root: str, name: str, role: Role) -> bool:
    return ROLE_RANK[role] >= ROLE_RANK[required_role(root, name)]


def codes(result: dict[str, Any]) -> set[str]:
    return {error.get("extensions", {}).get("code") for error in result.get("errors") or []}
