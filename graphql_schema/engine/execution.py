"""How graphql-core runs sibling fields and list items: a failure lets its siblings finish, it does not cancel them.

graphql-core 3.3 completes sibling fields and list items as tasks gathered by ``gather_with_cancel``:
when one fails in a way that nulls their parent (an invalid ``limit`` deep in a list of non-null items,
a missing machine beside other root fields), the others are cancelled. A task cancelled before its first
step never runs its coroutine, and that coroutine holds others that already exist, because graphql-core
calls resolvers as soon as it meets their fields: the resolvers' coroutines and the completions of nested
fields and items. Those were dropped unawaited, and Python warned "coroutine ... was never awaited" when
they were collected; at interpreter exit under uvloop the warning itself failed with
``KeyError: '__import__'``. The answers were right all the same.

``let_siblings_finish`` makes the executor gather them as graphql-js does (``Promise.all``): every
sibling runs to its end, then the first failure in order is raised. The failed answer waits for work
that the same document would do when it succeeds, which the document limits bound, and no coroutine
is left unawaited. Only a cancellation from outside (a client gone mid-request) still cancels them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from graphql.execution import executor


async def gather_settled(*awaitables: Awaitable[Any]) -> list[Any]:
    """Every awaitable run to its end; then the first failure, in their order, raised, else the results."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def let_siblings_finish() -> None:
    """Make graphql-core's executor gather siblings with ``gather_settled`` (module docstring); idempotent.

    Fails at start-up when the executor no longer has the function it replaces (a graphql-core upgrade
    that renamed it), rather than leaving the replacement silently unused."""
    if not hasattr(executor, "gather_with_cancel"):
        raise RuntimeError(
            "graphql-core's executor has no gather_with_cancel to replace; see graphql_schema/engine/execution.py"
        )
    executor.gather_with_cancel = gather_settled
