"""Refusing an operation before any resolver runs, the same way for every operation type.

A result set before execution makes Strawberry skip executing a query or mutation, but not a
subscription: for those it runs the source resolver regardless. Raising from ``on_execute`` instead
ends the subscription with the error before the resolver is called.
"""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType


def refuse(execution_context: ExecutionContext, error: GraphQLError) -> None:
    """Call from ``on_execute`` before it yields; ``error`` should already carry its ``extensions.code``."""
    if execution_context.operation_type is OperationType.SUBSCRIPTION:
        raise error
    execution_context.result = ExecutionResult(data=None, errors=[error])
