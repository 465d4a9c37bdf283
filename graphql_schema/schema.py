"""The Strawberry schema with its per-operation extensions, and the SDL export."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from app.config import Settings
from graphql_schema.administration import AdministrationMutation, AdministrationQuery
from graphql_schema.engine.audit_trail import AuditTrail
from graphql_schema.engine.auth import AccessControl
from graphql_schema.engine.constants import DOCUMENT_CACHE_SIZE
from graphql_schema.engine.errors import ErrorCodes
from graphql_schema.engine.execution import let_siblings_finish
from graphql_schema.engine.extension_hooks import CachedHooksRunner
from graphql_schema.engine.limits import DocumentLimits, ParserLimits
from graphql_schema.engine.observability import OperationMetrics
from graphql_schema.engine.parsing import DocumentCache
from graphql_schema.engine.plain_fields import PlainFieldsExecutionContext
from graphql_schema.mutations import Mutation
from graphql_schema.queries import Query
from graphql_schema.scalars import SCALAR_MAP
from graphql_schema.subscriptions import Subscription


class KilowatchSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Logging happens in ``ErrorCodes``, which knows which errors are unexpected."""

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return CachedHooksRunner(execution_context=execution_context, extensions=extensions)


def build_schema(settings: Settings | None = None) -> KilowatchSchema:
    """Extensions are given as factories so no per-operation state is shared between requests.

    Order matters: ``AuditTrail`` is entered before ``ErrorCodes`` so it leaves after it and records
    classified codes; ``DocumentLimits`` validates, after checking the document's size, so a document over a
    limit is refused before validation and before access control.
    """
    settings = settings or Settings()
    let_siblings_finish()
    extensions: list[Any] = [
        OperationMetrics,
        AuditTrail,
        ErrorCodes,
        partial(DocumentCache, maxsize=DOCUMENT_CACHE_SIZE),
        partial(
            DocumentLimits,
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_fields=settings.max_fields,
        ),
        *([] if settings.introspection else [DisableIntrospection]),
        partial(ParserLimits, max_tokens=settings.max_tokens, max_length=settings.max_document_length),
        AccessControl,
    ]
    return KilowatchSchema(
        query=merge_types("Query", (Query, AdministrationQuery)),
        mutation=merge_types("Mutation", (Mutation, AdministrationMutation)),
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=PlainFieldsExecutionContext,
    )


def export_sdl(path: Path) -> bool:
    """Write the schema's SDL to ``path``; returns whether the file changed."""
    sdl = build_schema().as_str() + "\n"
    if path.exists() and path.read_text() == sdl:
        return False
    path.write_text(sdl)
    return True
