"""Extension hooks entered by ``CachedHooksRunner`` behave as under Strawberry's own runner.

Every combination of hook behaviours (pass, suppress the exception, raise a new one when left) across
three extensions, sync and async, with and without an exception from the phase's body, is run under
both runners; the order in which hooks are entered and left, what each saw, and the outcome must be
the same.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner

from graphql_schema.engine.extension_hooks import CachedHooksRunner

BEHAVIOURS = ("pass", "suppress", "replace")
Events = list[str]


class BodyError(Exception):
    pass


class HookError(Exception):
    pass


def make_extension(name: str, behaviour: str, is_async: bool, events: Events) -> SchemaExtension:
    @contextmanager
    def recorded() -> Iterator[None]:
        """What the hook does around the phase, the same for a sync and an async hook."""
        events.append(f"{name} enters")
        try:
            yield
        except BaseException as error:  # noqa: BLE001 - the test records what the hook saw
            if not leave(error):
                raise
        else:
            leave(None)

    def leave(error: BaseException | None) -> bool:
        events.append(f"{name} leaves seeing {type(error).__name__ if error else None}")
        if behaviour == "replace":
            raise HookError(name)
        return behaviour == "suppress"

    class AsyncHook(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:
            with recorded():
                yield

    class SyncHook(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            with recorded():
                yield

    return (AsyncHook if is_async else SyncHook)(execution_context=None)  # type: ignore[arg-type]


async def run(runner_class: type[SchemaExtensionsRunner], plan: tuple[Any, ...], body_fails: bool) -> Events:
    events: Events = []
    extensions = [make_extension(f"e{i}", behaviour, is_async, events) for i, (behaviour, is_async) in enumerate(plan)]
    runner = runner_class(execution_context=None, extensions=extensions)  # type: ignore[arg-type]
    try:
        async with runner.operation():
            events.append("body")
            if body_fails:
                raise BodyError("body")
        events.append("outcome: completed")
    except Exception as error:  # noqa: BLE001 - the outcome is what is compared
        context = type(error.__context__).__name__ if error.__context__ else None
        events.append(f"outcome: {type(error).__name__} {error} (context {context})")
    return events


PLANS = list(itertools.product(itertools.product(BEHAVIOURS, (False, True)), repeat=3))


@pytest.mark.parametrize("body_fails", [False, True])
async def test_hooks_are_entered_left_and_see_exceptions_as_under_strawberrys_runner(body_fails: bool) -> None:
    for plan in PLANS:
        assert await run(CachedHooksRunner, plan, body_fails) == await run(SchemaExtensionsRunner, plan, body_fails)


def test_synchronous_phases_match_too() -> None:
    for plan in itertools.product(BEHAVIOURS, repeat=3):
        for body_fails in (False, True):
            outcomes = []
            for runner_class in (CachedHooksRunner, SchemaExtensionsRunner):
                events: Events = []
                extensions = [make_extension(f"e{i}", behaviour, False, events) for i, behaviour in enumerate(plan)]
                runner = runner_class(execution_context=None, extensions=extensions)  # type: ignore[arg-type]
                try:
                    with runner.operation():
                        if body_fails:
                            raise BodyError("body")
                    events.append("completed")
                except Exception as error:  # noqa: BLE001 - the outcome is what is compared
                    events.append(f"{type(error).__name__} {error}")
                outcomes.append(events)
            assert outcomes[0] == outcomes[1], (plan, body_fails)


async def test_a_hook_failing_on_entry_leaves_the_hooks_already_entered() -> None:
    """Strawberry's stack would leave them suspended; here they see the failure, as ``with`` blocks would."""
    events: Events = []

    class FailsOnEntry(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            raise HookError("entry")
            yield  # pragma: no cover - never reached

    first = make_extension("e0", "pass", True, events)
    runner = CachedHooksRunner(execution_context=None, extensions=[first, FailsOnEntry(execution_context=None)])  # type: ignore[arg-type]

    with pytest.raises(HookError, match="entry"):
        async with runner.operation():
            events.append("body")  # pragma: no cover - never reached

    assert events == ["e0 enters", "e0 leaves seeing HookError"]


def test_an_async_hook_in_a_synchronous_phase_is_refused_as_strawberry_refuses_it() -> None:
    events: Events = []
    runner = CachedHooksRunner(execution_context=None, extensions=[make_extension("e0", "pass", True, events)])  # type: ignore[arg-type]

    with pytest.raises(RuntimeError, match="failed to complete synchronously"), runner.operation():
        pass  # pragma: no cover - never reached
