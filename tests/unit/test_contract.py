"""The exported schema is current and never breaks the public contract."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema as parse_sdl
from graphql.utilities import find_breaking_changes

from graphql_schema.schema import build_schema

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "docs" / "contract.graphql"


def test_exported_schema_is_current() -> None:
    exported = (REPO / "schema.graphql").read_text()

    assert exported == build_schema().as_str() + "\n", "schema.graphql is stale: run `kilowatch schema`"


def test_exported_schema_keeps_every_contract_name_and_type() -> None:
    contract = parse_sdl(CONTRACT.read_text())
    exported = parse_sdl((REPO / "schema.graphql").read_text())

    assert find_breaking_changes(contract, exported) == []
