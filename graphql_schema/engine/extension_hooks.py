"""Strawberry's extension hooks, entered the way Strawberry's runner enters them, at a fraction of the cost.

For every operation and every phase of it (operation, parsing, validation, execution, each streamed
result), Strawberry's runner inspects every extension's class again (is the hook overridden, is it a
generator, an async generator or a plain callable), wraps the bound hook with
``contextlib.contextmanager`` and enters the result through a fresh ``ExitStack``. With the schema's
eight extensions that cost ~50 µs of a ~230 µs ``{ __typename }`` request (measured in-process here),
a quarter of it.

Here which extensions take part in a phase, and how each hook is entered, is worked out once per
tuple of extension classes. Each hook is still a ``contextlib`` context manager, so what a single hook
sees of an exception is contextlib's behaviour; only the ``ExitStack`` is replaced, by the loop in
``_unwind``, which keeps its rules: hooks are left in reverse order, each sees the exception still in
flight, a hook that returns true suppresses it for the hooks left after it, and an exception a hook
raises replaces it, with the one it replaced as its ``__context__`` (``tests/unit/test_extension_hooks``
compares both runners on every combination). One difference is deliberate: when a hook fails on entry, the
hooks already entered are left with that exception, where Strawberry's stack would not leave them
at all.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import cache
from types import TracebackType
from typing import Any, ClassVar

from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types.execution import StreamExecutionResult

#: Makes a sync or an async context manager (which one, the flag stored beside the factory says).
HookFactory = Callable[..., Any]
Entered = tuple[Any, bool]  # a context manager and whether it is async


def hook_factory(extension_class: type[SchemaExtension], hook_name: str) -> tuple[HookFactory, bool] | None:
    """How to enter ``hook_name`` of ``extension_class``: a context-manager factory taking the extension
    (and, for streamed results, the result), and whether it is async; ``None`` if the class does not
    override the hook. The same classification as Strawberry's ``ExtensionContextManagerBase.get_hook``.
    """
    function = getattr(extension_class, hook_name)
    if function is getattr(SchemaExtension, hook_name):
        return None
    if inspect.isgeneratorfunction(function):
        return contextlib.contextmanager(function), False
    if inspect.isasyncgenfunction(function):
        return contextlib.asynccontextmanager(function), True
    if inspect.iscoroutinefunction(function):
        return _after_awaiting(function), True
    if callable(function):
        return _after_calling(function), False
    raise ValueError(f"Hook {hook_name} on {extension_class} must be callable, received {function!r}")


def _after_calling(function: Callable[..., object]) -> HookFactory:
    @contextlib.contextmanager
    def hook(extension: SchemaExtension, *arguments: Any) -> Iterator[None]:
        function(extension, *arguments)
        yield

    return hook


def _after_awaiting(function: Callable[..., Awaitable[object]]) -> HookFactory:
    @contextlib.asynccontextmanager
    async def hook(extension: SchemaExtension, *arguments: Any) -> AsyncIterator[None]:
        await function(extension, *arguments)
        yield

    return hook


@dataclass(frozen=True, slots=True)
class _Hook:
    position: int  # of the extension in the operation's list of extensions
    factory: HookFactory
    is_async: bool


@cache
def _plan(extension_classes: tuple[type[SchemaExtension], ...], hook_name: str) -> tuple[_Hook, ...]:
    """The hooks of one phase, in the order of the extensions that override it."""
    return tuple(
        _Hook(position, *found)
        for position, extension_class in enumerate(extension_classes)
        if (found := hook_factory(extension_class, hook_name)) is not None
    )


class _Phase:
    """One phase's hooks, entered in order and left in reverse, synchronously or asynchronously."""

    __slots__ = ("_arguments", "_entered", "_extensions", "_plan")
    HOOK_NAME: ClassVar[str]

    def __init__(self, extensions: list[SchemaExtension], *arguments: Any) -> None:
        self._extensions = extensions
        self._plan = _plan(tuple(type(extension) for extension in extensions), self.HOOK_NAME)
        self._arguments = arguments
        self._entered: list[Entered] = []

    def __enter__(self) -> None:
        try:
            for hook in self._plan:
                extension = self._extensions[hook.position]
                if hook.is_async:
                    raise RuntimeError(
                        f"SchemaExtension hook {extension}.{self.HOOK_NAME} failed to complete synchronously."
                    )
                manager = hook.factory(extension, *self._arguments)
                manager.__enter__()
                self._entered.append((manager, False))
        except BaseException as error:
            _raise_outcome(_unwind_sync(self._entered, error), error)
            raise

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None) -> bool:
        return _raise_outcome(_unwind_sync(self._entered, error), error)

    async def __aenter__(self) -> None:
        try:
            for hook in self._plan:
                manager = hook.factory(self._extensions[hook.position], *self._arguments)
                if hook.is_async:
                    await manager.__aenter__()
                else:
                    manager.__enter__()
                self._entered.append((manager, hook.is_async))
        except BaseException as error:
            _raise_outcome(await _unwind(self._entered, error), error)
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None
    ) -> bool:
        return _raise_outcome(await _unwind(self._entered, error), error)


def _exit_arguments(error: BaseException | None) -> tuple[Any, ...]:
    return (None, None, None) if error is None else (type(error), error, error.__traceback__)


async def _unwind(entered: list[Entered], error: BaseException | None) -> BaseException | None:
    """Leave ``entered`` in reverse order as ``ExitStack`` does; returns the exception still in flight."""
    handled = sys.exc_info()[1]
    while entered:
        manager, is_async = entered.pop()
        try:
            arguments = _exit_arguments(error)
            suppressed = await manager.__aexit__(*arguments) if is_async else manager.__exit__(*arguments)
        except BaseException as raised:  # noqa: BLE001 - it replaces the exception in flight, as in ExitStack
            error = _replacing(raised, error, handled)
        else:
            error = None if suppressed else error
    return error


def _unwind_sync(entered: list[Entered], error: BaseException | None) -> BaseException | None:
    """``_unwind`` for a phase entered synchronously, whose hooks are all synchronous."""
    handled = sys.exc_info()[1]
    while entered:
        manager, _ = entered.pop()
        try:
            suppressed = manager.__exit__(*_exit_arguments(error))
        except BaseException as raised:  # noqa: BLE001 - it replaces the exception in flight, as in ExitStack
            error = _replacing(raised, error, handled)
        else:
            error = None if suppressed else error
    return error


def _replacing(raised: BaseException, replaced: BaseException | None, handled: BaseException | None) -> BaseException:
    """``raised``, its context chain pointing at the exception it replaced, not at the one ``with`` handles.

    Python links a new exception to the exception being handled where it was raised, which inside
    ``__exit__`` is the body's, even where a hook had suppressed that one; ``ExitStack`` relinks the
    chain the same way (its ``_fix_exception_context``).
    """
    link = raised
    while (context := link.__context__) is not None and context is not replaced:
        if context is handled:
            break
        link = context
    else:
        return raised
    link.__context__ = replaced
    return raised


def _raise_outcome(outcome: BaseException | None, received: BaseException | None) -> bool:
    """Raise an exception a hook raised in place of ``received``; the phase never suppresses ``received``.

    As in Strawberry, whose phases ignore what their ``ExitStack`` answers: a hook that suppresses the
    exception hides it from the hooks left after it, not from the code around the phase.
    """
    if outcome is None or outcome is received:
        return False
    context = outcome.__context__  # raising inside ``__exit__`` would link it to the handled exception again
    try:
        raise outcome
    except BaseException:
        outcome.__context__ = context
        raise


class _Operation(_Phase):
    HOOK_NAME = SchemaExtension.on_operation.__name__


class _Parsing(_Phase):
    HOOK_NAME = SchemaExtension.on_parse.__name__


class _Validation(_Phase):
    HOOK_NAME = SchemaExtension.on_validate.__name__


class _Executing(_Phase):
    HOOK_NAME = SchemaExtension.on_execute.__name__


class _StreamResult(_Phase):
    HOOK_NAME = SchemaExtension.on_stream_result.__name__


class CachedHooksRunner(SchemaExtensionsRunner):
    """Strawberry's runner, entering each phase's hooks through ``_Phase``.

    Strawberry annotates these methods with its own context-manager classes, while its callers only enter
    what they return: ``_Phase`` is entered the same way, hence the ``override`` ignores.
    """

    def operation(self) -> _Phase:  # type: ignore[override]
        return _Operation(self.extensions)

    def validation(self) -> _Phase:  # type: ignore[override]
        return _Validation(self.extensions)

    def parsing(self) -> _Phase:  # type: ignore[override]
        return _Parsing(self.extensions)

    def executing(self) -> _Phase:  # type: ignore[override]
        return _Executing(self.extensions)

    def on_stream_result(self, result: StreamExecutionResult) -> _Phase:  # type: ignore[override]
        return _StreamResult(self.extensions, result)
