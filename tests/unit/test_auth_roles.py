"""The role map covers the whole schema, and the operation walk finds every root field however it is spelled."""

from __future__ import annotations

import pytest
from graphql import parse

from app.enums import Role
from app.http.authentication import bearer_token
from app.services.access.principals import LOCAL_DEVELOPER, Principal
from graphql_schema.engine.auth import REQUIRED_ROLE, minimum_subscription_role, required_role
from graphql_schema.engine.root_fields import root_field_nodes
from graphql_schema.schema import build_schema

SCHEMA = build_schema()._schema


@pytest.mark.parametrize("root", ["Mutation", "Subscription"])
def test_every_mutation_and_subscription_field_has_an_explicit_role(root: str) -> None:
    root_type = SCHEMA.get_type(root)
    fields = set(root_type.fields)  # type: ignore[union-attr]

    missing = sorted(f"{root}.{name}" for name in fields if f"{root}.{name}" not in REQUIRED_ROLE)

    assert not missing, f"decide a role for these fields in graphql_schema/auth.py REQUIRED_ROLE: {missing}"


def test_the_map_names_only_fields_that_exist() -> None:
    stale = []
    for key in REQUIRED_ROLE:
        root, field = key.split(".")
        root_type = SCHEMA.get_type(root)
        if root_type is None or field not in root_type.fields:  # type: ignore[attr-defined]
            stale.append(key)

    assert not stale


def test_fields_missing_from_the_map_default_to_admin_except_reads() -> None:
    assert required_role("Mutation", "fieldAddedTomorrow") is Role.ADMIN
    assert required_role("Subscription", "streamAddedTomorrow") is Role.ADMIN
    assert required_role("Query", "machines") is Role.VIEWER
    assert required_role("Query", "apiTokens") is Role.ADMIN
    assert required_role("Mutation", "__typename") is Role.VIEWER


def test_roles_are_ordered_viewer_operator_admin() -> None:
    viewer, operator = Principal("v", Role.VIEWER), Principal("o", Role.OPERATOR)

    assert viewer.has_role(Role.VIEWER) and not viewer.has_role(Role.OPERATOR)
    assert operator.has_role(Role.OPERATOR) and not operator.has_role(Role.ADMIN)
    assert LOCAL_DEVELOPER.has_role(Role.ADMIN)
    assert minimum_subscription_role() is Role.VIEWER


@pytest.mark.parametrize(
    ("document", "operation_name", "expected"),
    [
        ('mutation { registerMachine(name: "a") { id } }', None, ["registerMachine"]),
        ('mutation { harmless: registerMachine(name: "a") { id } }', None, ["registerMachine"]),
        (
            'mutation { ...M } fragment M on Mutation { createApiToken(name: "x", role: ADMIN) { token } }',
            None,
            ["createApiToken"],
        ),
        (
            "mutation { ... on Mutation { ... { ...M } } } fragment M on Mutation { setMonitoringPolicy { x: id } }",
            None,
            ["setMonitoringPolicy"],
        ),
        ("mutation { ...M ...M } fragment M on Mutation { predict { __typename } }", None, ["predict", "predict"]),
        (
            "query Q { machines { id } } mutation W { triggerRetrain { __typename } }",
            "W",
            ["triggerRetrain"],
        ),
        ("mutation { a: predict @skip(if: true) { __typename } }", None, ["predict"]),
    ],
)
def test_root_fields_are_found_through_aliases_and_fragments(
    document: str, operation_name: str | None, expected: list[str]
) -> None:
    _, fields = root_field_nodes(parse(document), operation_name)

    assert [node.name.value for node, count in fields for _ in range(count)] == expected


def test_the_root_type_follows_the_selected_operation() -> None:
    document = parse("query Q { machines { id } } subscription S { alertRaised { id } }")

    assert root_field_nodes(document, "Q")[0] == "Query"
    assert root_field_nodes(document, "S")[0] == "Subscription"
    assert root_field_nodes(document, "Missing") == ("", [])


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer kw_abc", "kw_abc"),
        ("bearer   kw_abc  ", "kw_abc"),
        ("Basic a3dfYWJj", None),
        ("Bearer", None),
        ("kw_abc", None),
        (None, None),
        (["Bearer kw_abc"], None),
    ],
)
def test_only_bearer_credentials_are_read(header: object, token: str | None) -> None:
    assert bearer_token(header) == token
