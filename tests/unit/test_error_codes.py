from __future__ import annotations

import logging

import asyncpg
import pytest
from graphql import GraphQLError
from redis import exceptions as redis_errors
from sqlalchemy import exc as database_errors

from app.errors import Conflict, InvalidInput, NotFound, unavailable
from graphql_schema.engine.errors import INTERNAL_MESSAGE, classify


@pytest.mark.parametrize(
    ("error", "code"),
    [(InvalidInput("bad"), "BAD_USER_INPUT"), (NotFound("gone"), "NOT_FOUND"), (Conflict("taken"), "CONFLICT")],
)
def test_domain_errors_keep_their_message_and_code(error: Exception, code: str) -> None:
    classified = classify(GraphQLError(str(error), path=["field"], original_error=error))

    assert classified.message == str(error)
    assert classified.extensions == {"code": code}


def test_request_level_errors_are_bad_user_input() -> None:
    classified = classify(GraphQLError("Cannot query field 'nope' on type 'Query'."))

    assert classified.extensions == {"code": "BAD_USER_INPUT"}
    assert "nope" in classified.message


def test_unexpected_errors_are_masked_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    secret = RuntimeError("password=hunter2 at db.internal:5432")

    with caplog.at_level(logging.ERROR, logger="kilowatch.graphql"):
        classified = classify(GraphQLError(str(secret), path=["machines"], original_error=secret))

    assert classified.message == INTERNAL_MESSAGE
    assert classified.extensions == {"code": "INTERNAL"}
    assert "hunter2" not in classified.message
    assert "hunter2" in caplog.text


def _raised_from(error: BaseException, cause: BaseException) -> BaseException:
    try:
        raise error from cause
    except BaseException as raised:  # noqa: BLE001 - built only to carry its cause
        return raised


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (TimeoutError(), True),
        (redis_errors.ConnectionError("Connection closed by server."), True),
        (database_errors.TimeoutError("QueuePool limit reached"), True),
        (_raised_from(RuntimeError("lookup failed"), asyncpg.exceptions.CannotConnectNowError("starting up")), True),
        (
            database_errors.DBAPIError("SELECT 1", {}, asyncpg.exceptions.AdminShutdownError("shutdown")),
            True,
        ),
        (database_errors.IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (ValueError("bad"), False),
    ],
)
def test_unavailable_dependencies_are_recognised_through_their_causes(error: BaseException, expected: bool) -> None:
    if isinstance(error, database_errors.DBAPIError) and error.orig is not None:
        error.__cause__ = error.orig
    assert unavailable(error) is expected


def test_an_unavailable_dependency_while_resolving_is_service_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    refused = ConnectionRefusedError(111, "Connect call failed ('10.0.0.5', 5432)")

    with caplog.at_level(logging.WARNING, logger="kilowatch.graphql"):
        classified = classify(GraphQLError(str(refused), path=["machines"], original_error=refused))

    assert classified.extensions == {"code": "SERVICE_UNAVAILABLE", "retryAfter": 5}
    assert "10.0.0.5" not in classified.message
    assert [record.exc_info for record in caplog.records] == [None]  # one line, no traceback
