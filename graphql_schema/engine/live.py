"""Live events rendered once per operation text and shared by every subscriber, on both websocket protocols.

Strawberry runs a subscription's selection set once per subscriber and event (graphql-core maps each
subscriber's source stream through ``execute``), passes each result through every schema extension
and encodes each as JSON on its own: ~0.3 ms per subscriber, so one alert to 1,000 subscribers kept
this process's single event loop busy for 300 ms and more. Yet the payload of an event depends only
on the event and the operation (document, variables, operation name), never on who subscribed: who
may run which operation is decided once, before the resolver starts (``graphql_schema.engine.auth``), and no
field of ``Alert`` or ``TrainingJob`` depends on the caller. So:

- the protocol handlers below give each websocket operation a ``LiveDelivery``, in a context variable
  of the operation's own task (each operation runs in a task of its own, and its resolver runs in it);
- a subscription resolver hands each live event to ``LiveDelivery.send`` instead of yielding it;
- the first subscriber of an operation text to reach an event renders it: graphql-core executes the
  selection with the event's value as root (exactly what the per-event step of ``subscribe`` does, as
  Strawberry resolves a subscription field to the yielded value) under loaders of its own, errors get
  their ``extensions.code`` as ``ErrorCodes`` gives them, and the ``payload`` is encoded once. Every
  other subscriber with the same key frames that text with its operation id and sends it.

Everything else (the initial snapshot, the ``since`` replay, re-reads after a bus reconnection, errors,
completion) still goes through Strawberry's own path. Both paths run in the operation's one task, one
item after the other, so the order a resolver produces is the order the client receives.

A shared rendering bypasses the schema extensions' per-result hooks: ``ErrorCodes`` is applied here by
hand, and no extension of ours has a per-field ``resolve`` hook. One that adds either must be applied
here too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from functools import lru_cache
from inspect import isawaitable

from graphql import DocumentNode, ExecutionResult, GraphQLError, OperationType, execute, get_operation_ast, parse
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry import Schema
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import StartMessage, StartMessagePayload

from app.config import Settings
from app.runtime.events import Event
from graphql_schema.engine.constants import DOCUMENT_CACHE_SIZE
from graphql_schema.engine.context import Context
from graphql_schema.engine.errors import classify

#: ("render", query text, variables as canonical JSON, operation name): a key of ``Event.derived`` whose
#: value is the payload rendered for operations with that text (or the render still awaiting a resolver).
RenderKey = tuple[str, str, str, str | None]


class LiveDelivery:
    """Where one websocket operation's live events go: its socket, framed with its protocol and id."""

    def __init__(
        self,
        schema: BaseSchema,
        context: Context,
        query: str,
        variables: Mapping[str, object] | None,
        operation_name: str | None,
        frame: Callable[[str], str],
        send_text: Callable[[str], Awaitable[None]],
    ) -> None:
        if not isinstance(schema, Schema):  # rendering executes on the GraphQL schema Strawberry built
            raise TypeError(f"live delivery needs a strawberry.Schema, not {type(schema).__name__}")
        self._graphql_schema = schema._schema
        self._context = context
        self._variables = dict(variables or {})
        self._operation_name = operation_name
        self._query = query
        self._key: RenderKey = (
            "render",
            query,
            json.dumps(self._variables, sort_keys=True, default=str),
            operation_name,
        )
        self._frame = frame
        self._send_text = send_text

    async def send(self, event: Event, value: Callable[[], object]) -> None:
        """Send the operation's result for ``event``; ``value`` builds the root value if no one rendered it yet."""
        payload: str | asyncio.Future[str] | None = event.derived.get(self._key)
        if payload is None:
            payload = event.derived[self._key] = self._render(value())
        if not isinstance(payload, str):  # another subscriber's render is awaiting the database
            payload = payload.result() if payload.done() else await asyncio.shield(payload)
        await self._send_text(self._frame(payload))

    def _render(self, root: object) -> str | asyncio.Future[str]:
        """Execute the selection on ``root``: the JSON text at once, or a task when a resolver awaits."""
        result = execute(
            self._graphql_schema,
            _document(self._query),
            root_value=root,
            # Loaders of its own: a websocket's context lives as long as the connection, and its loaders' cache too.
            context_value=dataclasses.replace(self._context),
            variable_values=self._variables,
            operation_name=self._operation_name,
        )
        if isawaitable(result):
            return asyncio.ensure_future(_encoded_later(result))
        assert isinstance(result, ExecutionResult)  # a subscription operation never streams incrementally
        return _encoded(result)


@lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
def _document(query: str) -> DocumentNode:
    """Operations reach a delivery only after Strawberry parsed and validated them, so this cannot fail."""
    return parse(query)


def _operation_type(payload: StartMessagePayload, settings: Settings) -> OperationType | None:
    """The type of the operation a legacy ``start`` asks for; ``None`` when Strawberry should report the problem.

    Parsed under the same length and token limits as every operation, as this runs before Strawberry's checks.
    """
    query = payload.get("query")
    if not isinstance(query, str):
        return None
    try:
        document = parse(query, max_tokens=settings.max_tokens, max_source_length=settings.max_document_length)
    except GraphQLError:  # a syntax error, too many tokens or characters
        return None
    operation = get_operation_ast(document, payload.get("operationName"))
    return operation.operation if operation is not None else None


def _encoded(result: ExecutionResult) -> str:
    """The ``payload`` of a ``next`` (graphql-transport-ws) or ``data`` (graphql-ws) message, as Strawberry has it."""
    payload: dict[str, object] = {"data": result.data}
    if result.errors:
        payload["errors"] = [classify(error).formatted for error in result.errors]
    return json.dumps(payload, separators=(",", ":"))


async def _encoded_later(result: Awaitable[ExecutionResult]) -> str:
    return _encoded(await result)


_delivery: ContextVar[LiveDelivery | None] = ContextVar("live_delivery", default=None)


def live_delivery() -> LiveDelivery | None:
    """This operation's delivery; ``None`` outside the websocket handlers below (then resolvers yield)."""
    return _delivery.get()


class FramedTextAdapter(ASGIWebSocketAdapter):
    """Sends text that is already JSON, and treats the socket this side closed as disconnected.

    The second matters for ``on_ws_connect``, which closes a refused connection itself (4401, 4403):
    the legacy protocol then tries to send ``connection_error`` on the closed socket, and ends quietly.
    """

    async def send_json(self, message: Mapping[str, object]) -> None:
        self._check_open()
        await super().send_json(message)

    async def send_text(self, text: str) -> None:
        self._check_open()
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error

    def _check_open(self) -> None:
        if self.ws.application_state is WebSocketState.DISCONNECTED:
            raise WebSocketDisconnected


def _frame_socket(
    handler: BaseGraphQLTransportWSHandler[Context, None] | BaseGraphQLWSHandler[Context, None],
) -> FramedTextAdapter:
    assert isinstance(handler.websocket, FramedTextAdapter), "serve websockets through FramedTextAdapter"
    return handler.websocket


class LiveGraphQLTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws: live events leave as ``next`` messages rendered once per operation text."""

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        prefix = f'{{"id":{json.dumps(operation.id)},"type":"next","payload":'
        socket = _frame_socket(self)

        async def send_text(text: str) -> None:
            if not operation.completed:  # as Strawberry's own sends: nothing after complete or error
                await socket.send_text(text)

        _delivery.set(
            LiveDelivery(
                self.schema,
                self.context,
                operation.query,
                operation.variables,
                operation.operation_name,
                lambda payload: f"{prefix}{payload}}}",
                send_text,
            )
        )
        await super().run_operation(operation)


class LiveGraphQLWSHandler(BaseGraphQLWSHandler[Context, None]):
    """Legacy graphql-ws (``KILOWATCH_LEGACY_GRAPHQL_WS``): live events leave as ``data`` messages.

    Strawberry runs only subscriptions over this protocol; a query or mutation is refused here as bad
    input before it starts (Strawberry itself would answer with an unclassified, hence INTERNAL, error).
    """

    async def handle_start(self, message: StartMessage) -> None:
        operation_type = _operation_type(message["payload"], self.context.resources.settings)
        if self.connection_acknowledged and operation_type in (OperationType.QUERY, OperationType.MUTATION):
            refusal = GraphQLError(
                "the graphql-ws protocol carries subscriptions only; send queries and mutations over HTTP "
                "or graphql-transport-ws",
                extensions={"code": "BAD_USER_INPUT"},
            )
            await self.send_message({"type": "error", "id": message["id"], "payload": refusal.formatted})
            return
        await super().handle_start(message)

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        prefix = f'{{"type":"data","id":{json.dumps(operation_id)},"payload":'
        _delivery.set(
            LiveDelivery(
                self.schema,
                self.context,
                query,
                variables,
                operation_name,
                lambda payload: f"{prefix}{payload}}}",
                _frame_socket(self).send_text,
            )
        )
        await super().handle_async_results(operation_id, query, operation_name, variables)
