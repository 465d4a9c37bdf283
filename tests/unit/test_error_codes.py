from __future__ import annotations

import logging

import pytest
from graphql import GraphQLError

from app.errors import Conflict, InvalidInput, NotFound
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
