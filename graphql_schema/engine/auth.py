"""Authorization per operation, decided before any resolver runs.

One map says which role each Mutation and Subscription field needs; a field missing from it needs
ADMIN, so a new field is closed until someone decides otherwise (a unit test lists the map's gaps).
Query fields need VIEWER unless the map says more. Roles are ordered VIEWER < OPERATOR < ADMIN.

The check looks at the operation's root fields, fragments included, so it cannot be sidestepped by
aliasing or spreading, and it does not depend on how any resolver is written. The same pass counts
the rate-limited fields per token.

A refusal goes through ``graphql_schema.engine.refusals``, which stops queries, mutations and subscriptions
alike before their resolvers run.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.config import Settings
from app.enums import Role
from app.services.access.principals import ROLE_RANK, Principal
from graphql_schema.engine.context import Context
from graphql_schema.engine.refusals import refuse
from graphql_schema.engine.root_fields import root_field_nodes

logger = logging.getLogger("kilowatch.auth")

REQUIRED_ROLE: dict[str, Role] = {
    "Query.apiTokens": Role.ADMIN,
    "Query.auditLog": Role.ADMIN,
    "Mutation.registerMachine": Role.OPERATOR,
    "Mutation.ingestReadings": Role.OPERATOR,
    "Mutation.recordMetrics": Role.OPERATOR,
    "Mutation.checkDrift": Role.OPERATOR,
    "Mutation.triggerRetrain": Role.OPERATOR,
    "Mutation.recordIntervention": Role.OPERATOR,
    "Mutation.cancelTrainingJob": Role.OPERATOR,
    "Mutation.promoteModelVersion": Role.OPERATOR,
    "Mutation.startAbTest": Role.OPERATOR,
    "Mutation.stopAbTest": Role.OPERATOR,
    "Mutation.predict": Role.OPERATOR,
    "Mutation.acknowledgeAlert": Role.OPERATOR,
    "Mutation.resolveAlert": Role.OPERATOR,
    "Mutation.setMonitoringPolicy": Role.ADMIN,
    "Mutation.createApiToken": Role.ADMIN,
    "Mutation.revokeApiToken": Role.ADMIN,
    "Subscription.trainingJobUpdates": Role.VIEWER,
    "Subscription.alertRaised": Role.VIEWER,
}

#: Fields whose calls are counted per token, with the setting that bounds them per window.
RATE_LIMITS: dict[str, Callable[[Settings], int]] = {
    "Mutation.triggerRetrain": lambda settings: settings.rate_limit_retrain_per_minute,
    "Mutation.predict": lambda settings: settings.rate_limit_predict_per_minute,
}
RATE_WINDOW_S = 60.0


def required_role(root_type: str, field_name: str) -> Role:
    if field_name.startswith("__"):  # __typename, and introspection when it is enabled
        return Role.VIEWER
    default = Role.VIEWER if root_type == "Query" else Role.ADMIN
    return REQUIRED_ROLE.get(f"{root_type}.{field_name}", default)


def minimum_subscription_role() -> Role:
    """The least a websocket connection must hold to be worth opening: the lowest role any subscription needs."""
    roles = [role for key, role in REQUIRED_ROLE.items() if key.startswith("Subscription.")]
    return min(roles, key=ROLE_RANK.__getitem__, default=Role.ADMIN)


def unauthenticated() -> GraphQLError:
    return GraphQLError(
        "Authentication required: send a valid API token as 'Authorization: Bearer <token>'.",
        extensions={"code": "UNAUTHENTICATED"},
    )


def forbidden(field: str, required: Role, principal: Principal) -> GraphQLError:
    return GraphQLError(
        f"{field} requires the {required.name} role; this token has {principal.role.name}.",
        extensions={"code": "FORBIDDEN", "field": field},
    )


def rate_limited(field: str, limit: int, retry_after: int) -> GraphQLError:
    return GraphQLError(
        f"{field} is limited to {limit} calls per minute per token; retry in {retry_after} s.",
        extensions={"code": "RATE_LIMITED", "field": field, "retryAfter": retry_after},
    )


class AccessControl(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        refusal = await self._refusal()
        if refusal is not None:
            refuse(self.execution_context, refusal)
        yield

    async def _refusal(self) -> GraphQLError | None:
        execution = self.execution_context
        context: Context = execution.context
        assert execution.graphql_document is not None  # on_execute runs only for parsed, valid documents
        root_type, fields = root_field_nodes(execution.graphql_document, execution.operation_name)
        principal = context.principal
        if principal is None:
            return unauthenticated()
        for node, _ in fields:
            required = required_role(root_type, node.name.value)
            if not principal.has_role(required):
                logger.info("refused %s.%s to %s (%s)", root_type, node.name.value, principal.name, principal.role)
                return forbidden(node.name.value, required, principal)
        calls: Counter[str] = Counter()
        for node, count in fields:
            calls[f"{root_type}.{node.name.value}"] += count
        return await _rate_limit(context, principal, calls)


async def _rate_limit(context: Context, principal: Principal, calls: Counter[str]) -> GraphQLError | None:
    """Count each rate-limited field of the operation (twice if it appears twice) against the caller."""
    subject = str(principal.token_id or principal.name)
    for field, cost in calls.items():
        if field not in RATE_LIMITS:
            continue
        limit = RATE_LIMITS[field](context.resources.settings)
        verdict = await context.rate_limiter.hit(f"{field}:{subject}", cost=cost, limit=limit, window_s=RATE_WINDOW_S)
        if not verdict.allowed:
            return rate_limited(field.split(".", 1)[1], limit, verdict.retry_after)
    return None
