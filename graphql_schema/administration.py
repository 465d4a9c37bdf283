"""Root fields for administrators: API tokens and the audit log (``graphql_schema.engine.auth`` requires ADMIN)."""

from __future__ import annotations

import uuid

import strawberry

from app.services.access import audit, tokens
from graphql_schema.arguments import list_limit
from graphql_schema.engine.audit_trail import audited_mutation
from graphql_schema.engine.context import Info
from graphql_schema.enums import Role
from graphql_schema.types.access import ApiToken, AuditEntry
from graphql_schema.types.results import NewApiToken


@strawberry.type
class AdministrationQuery:
    @strawberry.field(description="API tokens, newest first, revoked ones included.")
    async def api_tokens(self, info: Info, limit: int | None = 100) -> list[ApiToken]:
        async with info.context.read() as session:
            rows = await tokens.list_tokens(session, list_limit(info, limit, 100))
        return [ApiToken.from_row(row) for row in rows]

    @strawberry.field(description="Mutations as recorded, newest first; operation and actor match exactly.")
    async def audit_log(
        self, info: Info, limit: int | None = 100, operation: str | None = None, actor: str | None = None
    ) -> list[AuditEntry]:
        async with info.context.read() as session:
            rows = await audit.list_entries(
                session, limit=list_limit(info, limit, 100), operation=operation, actor=actor
            )
        return [AuditEntry.from_row(row) for row in rows]


@strawberry.type
class AdministrationMutation:
    @audited_mutation(description="The token is in the answer only; the server keeps its hash.")
    async def create_api_token(self, info: Info, name: str, role: Role) -> NewApiToken:
        async with info.context.write() as session:
            issued = await tokens.issue(session, name, role, created_by=info.context.actor)
        return NewApiToken(id=issued.row.id, name=issued.row.name, role=issued.row.role, token=issued.secret)

    @audited_mutation(
        description="Effective at once for new requests and websocket connections to this server; "
        "other API processes may accept the token for up to one more second."
    )
    async def revoke_api_token(self, info: Info, id: uuid.UUID) -> ApiToken:
        async with info.context.write() as session:
            row = await tokens.revoke(session, id)
        info.context.forget_token(row.id)
        return ApiToken.from_row(row)
