"""Every root mutation field commits its audit entry with its own change."""

from __future__ import annotations

from graphql_schema.engine.audit_trail import AuditedInTransaction
from graphql_schema.schema import build_schema


def test_every_mutation_field_is_declared_audited() -> None:
    mutation = build_schema().get_type_by_name("Mutation")

    assert mutation is not None and len(mutation.fields) >= 15
    unaudited = [
        field.name
        for field in mutation.fields
        if not any(isinstance(extension, AuditedInTransaction) for extension in field.extensions)
    ]
    assert unaudited == []
