"""Writes one audit entry per root field of every mutation an authenticated caller sends.

A mutation field that succeeds and wrote through ``Context.write`` gets its entry in that same
transaction (``AuditedInTransaction``): the change and its entry commit together, in one commit.
Everything else is recorded after the operation has completed (and after ``ErrorCodes`` has given
every error its code) by ``AuditTrail``, in one autocommitted statement, so a mutation that failed and
rolled back is still recorded, and a failure to write the entry is logged instead of breaking the
response. It also runs when the operation is cancelled (outcome INTERRUPTED if no result existed
yet). Refused mutations (FORBIDDEN, RATE_LIMITED, invalid documents) are recorded too. Attempts
without a valid token are only logged: writing a row for each would let anyone on the network grow
the table.

Target ids are the UUIDs among the field's arguments plus the ``id`` of what it returned (for an
entry written after the operation: when the caller selected it). Argument values are never stored,
and nothing of a result but its ``id``, so the token returned by ``createApiToken`` cannot reach the log.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, cast

import strawberry
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    ListValueNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.types import Info

from app.db.engine import SessionFactory
from app.services.access import audit
from app.services.access.principals import Principal
from graphql_schema.engine.context import WRITE_SCOPE, Context, WriteScope
from graphql_schema.engine.root_fields import root_field_nodes

logger = logging.getLogger("kilowatch.audit")
OUTCOME_INTERRUPTED = "INTERRUPTED"


#: Audit writes under way; the event loop holds tasks only weakly.
_WRITES: set[asyncio.Task[None]] = set()
#: Response keys of the operation under way whose entries were committed with their mutation.
_RECORDED: ContextVar[set[str] | None] = ContextVar("kilowatch_audited_in_transaction", default=None)


class AuditedInTransaction(FieldExtension):
    """Commits a mutation field's audit entry in the transaction of its first ``Context.write`` block.

    A field that wrote nothing that way (its services run their own transactions) or that failed is
    left to ``AuditTrail``: a failed field's transaction is rolled back whole, its entry written after.
    """

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info[Context, None], **kwargs: Any
    ) -> Any:
        scope = WriteScope()
        token = WRITE_SCOPE.set(scope)
        try:
            result = await next_(source, info, **kwargs)
            if scope.session is not None:
                await _commit_with_entry(scope.session, info, result)
        finally:
            WRITE_SCOPE.reset(token)
            await scope.end()
        for callback in scope.after_commit:
            callback()
        return result


async def _commit_with_entry(session: AsyncSession, info: Info[Context, None], result: object) -> None:
    raw = info._raw_info
    node = raw.field_nodes[0]
    principal = info.context.principal
    if principal is not None:
        # graphql-core annotates ``variable_values`` as its VariableValues; a resolver's info holds the plain dict.
        variables = cast(dict[str, Any], raw.variable_values)
        targets = [*argument_ids(raw.parent_type.fields[node.name.value], node, variables)]
        targets.extend(_ids_of_objects(result))
        operation_name = raw.operation.name.value if raw.operation.name else None
        entry = audit.AuditRecord(
            principal.name, node.name.value, audit.OUTCOME_OK, targets, _details(principal, operation_name)
        )
        await audit.record(session, [entry])
    await session.commit()
    recorded = _RECORDED.get()
    if recorded is not None:
        recorded.add(_response_key(node))


class AuditTrail(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        recorded: set[str] = set()
        _RECORDED.set(recorded)  # a fresh set per operation; the request's task context holds nothing else
        try:
            yield
        finally:
            await self._record(recorded)

    async def _record(self, recorded: set[str]) -> None:
        """Write the entries in a task of their own, so they are written even if the operation is cancelled.

        A websocket client that sends ``complete`` as soon as a mutation's answer arrives cancels the
        operation while this runs; without the shield, that client could keep its mutations out of the log.
        """
        try:
            records = self._records(recorded)
        except Exception:  # noqa: BLE001 - the response is already decided; a lost entry is logged, not raised
            logger.exception("could not build the audit log entry of %s", self.execution_context.operation_name)
            return
        if records:
            context: Context = self.execution_context.context
            task = asyncio.get_running_loop().create_task(_write(context.resources.reads, records))
            _WRITES.add(task)
            task.add_done_callback(_WRITES.discard)
            await asyncio.shield(task)

    def _records(self, recorded: set[str]) -> list[audit.AuditRecord]:
        execution = self.execution_context
        if execution.graphql_document is None:
            return []
        root_type, fields = root_field_nodes(execution.graphql_document, execution.operation_name)
        nodes = [node for node, _ in fields]
        if root_type != "Mutation":
            return []
        context: Context = execution.context
        principal = context.principal
        if principal is None:
            logger.info("unauthenticated mutation refused: %s", ", ".join(node.name.value for node in nodes))
            return []
        if execution.result is None:  # cancelled before any result: whatever ran was cut short
            errors: list[GraphQLError] = [GraphQLError("interrupted", extensions={"code": OUTCOME_INTERRUPTED})]
            data = None
        else:
            errors, data = list(execution.result.errors or []), execution.result.data
        details = _details(principal, execution.operation_name)
        return [
            audit.AuditRecord(
                actor=principal.name,
                operation=node.name.value,
                outcome=outcome,
                target_ids=[*self._argument_ids(node), *_ids_in_result((data or {}).get(_response_key(node)))],
                details=details,
            )
            for node, outcome in _executed(nodes, data, errors)
            if _response_key(node) not in recorded
        ]

    def _argument_ids(self, node: FieldNode) -> list[uuid.UUID]:
        mutation_type = self.execution_context.schema._schema.mutation_type
        definition = mutation_type.fields.get(node.name.value) if mutation_type else None
        if definition is None:
            return []
        return argument_ids(definition, node, self.execution_context.variables or {})


def argument_ids(definition: GraphQLField, node: FieldNode, variables: dict[str, Any]) -> list[uuid.UUID]:
    """UUIDs among the arguments as sent, visiting only arguments whose type can hold one.

    The values are read, not coerced again: an ``ingestReadings`` call carries up to 50,000
    readings, and none of them needs to be looked at to find its ``machineId``.
    """
    found: list[uuid.UUID] = []
    for argument in node.arguments or ():
        argument_definition = definition.args.get(argument.name.value)
        if argument_definition is not None:
            found.extend(_ids_in_literal(argument_definition.type, argument.value, variables))
    return found


def _details(principal: Principal, operation_name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if principal.token_id is not None:
        details["tokenId"] = str(principal.token_id)
    if operation_name:
        details["operationName"] = operation_name
    return details


async def _write(sessions: SessionFactory, records: list[audit.AuditRecord]) -> None:
    """One autocommitted statement on PostgreSQL (the read sessions' engine): no BEGIN and COMMIT round trips."""
    try:
        async with sessions() as session:
            await audit.record(session, records)
            await session.commit()
    except Exception:  # noqa: BLE001 - logged, never raised: the answer has already left
        logger.exception("could not write the audit log entries of %s", ", ".join(item.operation for item in records))


def _response_key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _executed(
    nodes: Sequence[FieldNode], data: dict[str, Any] | None, errors: Sequence[GraphQLError]
) -> Iterator[tuple[FieldNode, str]]:
    """Each root field that ran or was refused, once, with its outcome.

    An error without a path refused the whole operation before execution: every field gets its code.
    Mutation fields run one after the other; when one fails and nulls the whole result, the fields
    after it never ran. A field missing from a non-null result was skipped (``@skip``/``@include``).
    """
    refusal = next((error for error in errors if not error.path), None)
    seen: set[str] = set()
    for node in nodes:
        key = _response_key(node)
        if key in seen:
            continue  # the same response key twice is executed once
        seen.add(key)
        if refusal is not None:
            yield node, _code(refusal)
            continue
        own = next((error for error in errors if error.path and error.path[0] == key), None)
        if own is not None:
            yield node, _code(own)
            if data is None:
                return
        elif data is None or key in data:
            yield node, audit.OUTCOME_OK


def _code(error: GraphQLError) -> str:
    return str((error.extensions or {}).get("code", "INTERNAL"))


def _holds_uuid(type_: GraphQLInputType, seen: frozenset[str] = frozenset()) -> bool:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    if isinstance(type_, GraphQLScalarType):
        return type_.name == "UUID"
    if isinstance(type_, GraphQLInputObjectType) and type_.name not in seen:
        return any(_holds_uuid(field.type, seen | {type_.name}) for field in type_.fields.values())
    return False


def _ids_in_literal(type_: GraphQLInputType, value: ValueNode, variables: dict[str, Any]) -> Iterator[uuid.UUID]:
    if not _holds_uuid(type_):
        return
    if isinstance(value, VariableNode):
        yield from _ids_in_raw(type_, variables.get(value.name.value))
        return
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        for item in (value.values or ()) if isinstance(value, ListValueNode) else (value,):
            yield from _ids_in_literal(type_.of_type, item, variables)
    elif isinstance(type_, GraphQLInputObjectType) and isinstance(value, ObjectValueNode):
        for field in value.fields or ():
            if field.name.value in type_.fields:
                yield from _ids_in_literal(type_.fields[field.name.value].type, field.value, variables)
    elif isinstance(value, StringValueNode):
        yield from _parsed(value.value)


def _ids_in_raw(type_: GraphQLInputType, value: object) -> Iterator[uuid.UUID]:
    if not _holds_uuid(type_):
        return
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        for item in value if isinstance(value, list) else (value,):
            yield from _ids_in_raw(type_.of_type, item)
    elif isinstance(type_, GraphQLInputObjectType) and isinstance(value, dict):
        for name, item in value.items():
            if name in type_.fields:
                yield from _ids_in_raw(type_.fields[name].type, item)
    elif isinstance(value, uuid.UUID):  # variables as coerced for execution
        yield value
    elif isinstance(value, str):
        yield from _parsed(value)


def _ids_of_objects(value: object) -> Iterator[uuid.UUID]:
    """The ``id`` of what a resolver returned (an object or a list of them), whether selected or not."""
    for item in value if isinstance(value, list) else (value,):
        if isinstance(identifier := getattr(item, "id", None), uuid.UUID):
            yield identifier


def _ids_in_result(value: object) -> Iterator[uuid.UUID]:
    for item in value if isinstance(value, list) else (value,):
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            yield from _parsed(item["id"])


def _parsed(text: str) -> Iterator[uuid.UUID]:
    """A malformed id never reached a resolver (it fails coercion), so it targeted nothing."""
    try:
        yield uuid.UUID(text)
    except ValueError:
        return


def audited_mutation(**options: Any) -> Any:
    """``strawberry.mutation`` with ``AuditedInTransaction``: how every root mutation field is declared."""
    return strawberry.mutation(extensions=[AuditedInTransaction()], **options)
