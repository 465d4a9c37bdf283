"""Operation limits refuse before execution; rate limits count per token, in memory or shared through Redis."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from graphql import build_client_schema, get_introspection_query

from app.config import Settings
from app.db.engine import transaction
from app.enums import Role
from app.services.access import tokens
from tests.integration.apps import asgi_client, client_as, running
from tests.integration.test_dataloaders import counted_statements
from tests.support import (
    REDIS_URL,
    STANDARD_INTROSPECTION_QUERIES,
    data_of,
    error_of,
    forget_redis_keys,
    graphql,
    scratch_redis_prefix,
)

RETRAIN = "mutation($m: UUID!) { triggerRetrain(machineId: $m, modelType: BASELINE) { triggered } }"


def _nested(depth: int) -> str:
    """``{ machines { models { machine { … { id } } } } }``: ``depth`` fields from root to leaf (even, so the
    leaf ``id`` lands on Machine)."""
    assert depth % 2 == 0
    path = ["machines"] + [("models", "machine")[level % 2] for level in range(depth - 2)]
    return "{ " + " { ".join(path) + " { id" + " }" * len(path) + " }"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_nested(12), "query depth 12 exceeds the limit of 10"),
        ("{ " + " ".join(f"a{index}: machines {{ id }}" for index in range(31)) + " }", "31 aliases exceed"),
        ("{ machines { " + "id " * 6_000 + "} }", "token"),
        (
            "subscription { alertRaised { " + " ".join(f"a{index}: id" for index in range(31)) + " } }",
            "31 aliases exceed",
        ),
    ],
    ids=["deep", "alias-bomb", "token-bomb", "alias-bomb-subscription"],
)
async def test_oversized_operations_are_refused_before_any_resolver_runs(
    client: httpx.AsyncClient, resources: Any, document: str, message: str
) -> None:
    with counted_statements(resources) as control:  # also verifies the token, which the server then keeps
        await graphql(client, "{ machines { id } }")
    with counted_statements(resources) as statements:
        result = await graphql(client, document)

    error = error_of(result, "BAD_USER_INPUT")
    assert message in error["message"]
    assert result["data"] is None
    assert control and statements == [], statements


async def test_limits_at_the_edge_still_run(client: httpx.AsyncClient) -> None:
    aliases = "{ " + " ".join(f"a{index}: machines {{ id }}" for index in range(30)) + " }"

    assert data_of(await graphql(client, _nested(10)))["machines"] == []
    assert len(data_of(await graphql(client, aliases))) == 30


async def test_introspection_can_be_switched_off(settings: Settings) -> None:
    introspection = "{ __schema { queryType { name } } }"
    async with (
        running(settings.model_copy(update={"introspection": False})) as closed,
        client_as(closed, Role.ADMIN) as http,
    ):
        refused = await graphql(http, introspection)
        typename = await graphql(http, "{ __typename }")
    async with running(settings) as open_app, client_as(open_app, Role.VIEWER) as http:
        allowed = await graphql(http, introspection)

    assert refused["data"] is None
    assert {error["extensions"]["code"] for error in refused["errors"]} == {"BAD_USER_INPUT"}
    assert "introspection has been disabled" in refused["errors"][0]["message"]
    assert data_of(typename) == {"__typename": "Query"}
    assert data_of(allowed) == {"__schema": {"queryType": {"name": "Query"}}}


@pytest.mark.parametrize("name", sorted(STANDARD_INTROSPECTION_QUERIES))
async def test_standard_introspection_queries_are_answered(viewer_client: httpx.AsyncClient, name: str) -> None:
    result = data_of(await graphql(viewer_client, STANDARD_INTROSPECTION_QUERIES[name]))

    assert build_client_schema(result).query_type.name == "Query"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }", "nests fields"),
        (get_introspection_query(type_depth=20), "introspection depth 26 exceeds the limit of 20"),
    ],
    ids=["multiplying", "deep"],
)
async def test_introspection_beyond_its_own_bounds_is_refused(
    viewer_client: httpx.AsyncClient, document: str, message: str
) -> None:
    assert message in error_of(await graphql(viewer_client, document), "BAD_USER_INPUT")["message"]


async def _call_retrain(http: httpx.AsyncClient) -> dict[str, Any]:
    return await graphql(http, RETRAIN, {"m": str(uuid.uuid4())})


async def test_the_call_after_the_limit_is_rate_limited_per_token(settings: Settings) -> None:
    async with running(settings.model_copy(update={"rate_limit_retrain_per_minute": 3})) as app:
        async with client_as(app, Role.OPERATOR) as first, client_as(app, Role.OPERATOR) as second:
            within = [await _call_retrain(first) for _ in range(3)]
            beyond = await _call_retrain(first)
            other_token = await _call_retrain(second)
            doubled = await graphql(
                second,
                "mutation($m: UUID!) { a: triggerRetrain(machineId: $m, modelType: BASELINE) { triggered }"
                " b: triggerRetrain(machineId: $m, modelType: ANOMALY) { triggered } }",
                {"m": str(uuid.uuid4())},
            )
            third_for_second = await _call_retrain(second)

    assert all(error_of(result, "NOT_FOUND") for result in within)
    error = error_of(beyond, "RATE_LIMITED")
    assert 1 <= error["extensions"]["retryAfter"] <= 60
    assert "triggerRetrain is limited to 3 calls per minute" in error["message"]
    error_of(other_token, "NOT_FOUND")
    assert {item["extensions"]["code"] for item in doubled["errors"]} == {"NOT_FOUND"}
    error_of(third_for_second, "RATE_LIMITED")


async def test_on_redis_two_api_processes_share_one_limit(settings: Settings) -> None:
    prefix = scratch_redis_prefix()
    update = {"redis_url": REDIS_URL, "redis_prefix": prefix, "rate_limit_predict_per_minute": 4}
    shared = settings.model_copy(update=update)
    predict = (
        "mutation($m: UUID!) { predict(machineId: $m, modelType: BASELINE, "
        'inputs: [{timestamp: "2026-01-01T00:00:00Z"}]) { value } }'
    )
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(running(shared))
        second = await stack.enter_async_context(running(shared))
        async with transaction(first.state.lifespan_state["resources"].sessions) as session:
            issued = await tokens.issue(session, "two processes", Role.OPERATOR, created_by="tests")
        bearer = {"Authorization": f"Bearer {issued.secret}"}
        http_first = await stack.enter_async_context(asgi_client(first, bearer))
        http_second = await stack.enter_async_context(asgi_client(second, bearer))
        try:
            answers = [await graphql(http, predict, {"m": str(uuid.uuid4())}) for http in [http_first, http_second] * 3]
        finally:
            await forget_redis_keys(prefix)

    refused = [answer for answer in answers if "RATE_LIMITED" in str(answer.get("errors"))]
    assert len(refused) == 2 and answers[4] in refused and answers[5] in refused
    assert all("RATE_LIMITED" not in str(answer["errors"]) for answer in answers[:4])
