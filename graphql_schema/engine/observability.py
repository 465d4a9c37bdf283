"""Prometheus metrics for GraphQL operations, exposed at /metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import cache

from prometheus_client import Counter, Histogram
from strawberry.extensions import SchemaExtension

OPERATIONS = Counter(
    "kilowatch_graphql_operations_total", "GraphQL operations by type and outcome", ["operation_type", "outcome"]
)
DURATION = Histogram("kilowatch_graphql_operation_seconds", "GraphQL operation wall time", ["operation_type"])


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            operation_type = context.operation_type.value
        except RuntimeError:  # the document did not parse, so it has no operation
            operation_type = "unknown"
        outcome = "error" if context.result is not None and context.result.errors else "ok"
        _operations(operation_type, outcome).inc()
        _duration(operation_type).observe(time.perf_counter() - started)


# ``labels`` validates, locks and looks the child up on every call; the children never change, so
# each is looked up once (there are a handful: operation types × outcomes).
_operations = cache(OPERATIONS.labels)
_duration = cache(DURATION.labels)
