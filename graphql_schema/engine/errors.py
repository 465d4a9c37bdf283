"""Every GraphQL error leaves with an ``extensions.code``; unexpected ones leave masked.

already carrying a code (access control, limits)      → kept as it is
request-level (syntax, validation, variable coercion) → BAD_USER_INPUT, message kept
KilowatchError raised by a service                    → its code, message and field kept
a dependency out of reach (database, Redis)           → SERVICE_UNAVAILABLE with retryAfter, one log line
anything else raised while executing                  → INTERNAL, message masked, detail logged
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.execution import StreamExecutionResult

from app.errors import (
    INTERNAL_MESSAGE,
    RETRY_AFTER_S,
    SERVICE_UNAVAILABLE,
    UNAVAILABLE_MESSAGE,
    KilowatchError,
    unavailable,
)

logger = logging.getLogger("kilowatch.graphql")


def classify(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, KilowatchError):
        extensions = {"code": original.code}
        if original.field:
            extensions["field"] = original.field
        return _with(error, original.message, extensions)
    if original is None and (error.extensions or {}).get("code"):
        return error  # raised already classified, e.g. by access control or the operation limits
    if error.path is None and (original is None or isinstance(original, (GraphQLError, ValueError, TypeError))):
        return _with(error, error.message, {"code": "BAD_USER_INPUT"})
    if original is not None and unavailable(original):
        logger.warning("a dependency is unavailable in %s: %r", ".".join(map(str, error.path or [])), original)
        return _with(error, UNAVAILABLE_MESSAGE, {"code": SERVICE_UNAVAILABLE, "retryAfter": RETRY_AFTER_S})
    logger.error(
        "unexpected error in %s", ".".join(map(str, error.path or [])) or "request", exc_info=original or error
    )
    return _with(error, INTERNAL_MESSAGE, {"code": "INTERNAL"})


def _with(error: GraphQLError, message: str, extensions: Mapping[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={**(error.extensions or {}), **extensions},
    )


class ErrorCodes(SchemaExtension):
    """Classifies the errors of every result before it leaves.

    Over HTTP the result leaves after the operation ends. Websocket operations (subscriptions, and
    queries and mutations sent over the socket) go through ``Schema.stream``, whose results are sent
    while the operation is still open, so each one is classified as it is yielded. ``classify`` is
    idempotent, so a result seen by both hooks is unchanged by the second.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        _classify_result(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        _classify_result(result)
        yield


def _classify_result(result: object) -> None:
    if isinstance(result, ExecutionResult | GraphQLExecutionResult) and result.errors:
        result.errors = [classify(error) for error in result.errors]
