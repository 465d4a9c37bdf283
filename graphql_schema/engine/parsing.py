"""Parsed documents cached per query text, with syntax errors reported like every other request error.

Strawberry's ``ParserCache`` parses inside its ``on_parse`` hook, outside the ``try`` that turns a
syntax error into a request error, so an unparsable document (or one over the token limit) escapes
the operation: over HTTP it leaves without an ``extensions.code``, over a websocket it ends the
operation task with an exception. Here a document that does not parse is left to Strawberry's own
parser, which reports it in the normal way; only valid documents are cached.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import ParserCache


class DocumentCache(ParserCache):
    def on_parse(self) -> Iterator[None]:
        execution_context = self.execution_context
        try:
            execution_context.graphql_document = self.cached_parse_document(
                execution_context.query, **execution_context.parse_options
            )
        except GraphQLError:
            pass  # parsed again by Strawberry, inside the handler that reports it as a request error
        yield
