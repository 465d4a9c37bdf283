"""Failures outside GraphQL execution, answered in the same shape as GraphQL errors.

A client reads ``errors[].extensions.code`` whatever went wrong, so what fails before an operation
runs (the request cannot be read, the database is out of reach while the caller's token is looked up,
the body is too large) answers ``{"data": null, "errors": [{"message", "extensions": {"code"}}]}``
too, never a plain-text page:

request the GraphQL view refuses (bad JSON, GET mutation, …) → its status, BAD_USER_INPUT
body or query string that is not UTF-8                        → 400, BAD_USER_INPUT
body over ``KILOWATCH_MAX_BODY_BYTES``                         → 413, BAD_USER_INPUT, before it is read
database or Redis out of reach                                 → 503, SERVICE_UNAVAILABLE, ``Retry-After``
anything else                                                  → 500, INTERNAL, logged with its traceback
client gone before the answer                                  → no answer, one log line
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from cross_web import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import INTERNAL_MESSAGE, RETRY_AFTER_S, SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE, unavailable

logger = logging.getLogger("kilowatch.http")

BAD_USER_INPUT = "BAD_USER_INPUT"
NOT_UTF8_MESSAGE = "The request is not valid UTF-8: send the body and the query string encoded as UTF-8."


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"limit {limit}")
        self.limit = limit


def error_response(
    status: int, message: str, code: str, headers: dict[str, str] | None = None, **extra: object
) -> Response:
    """A GraphQL-shaped error answer: no data, one error carrying ``extensions.code`` (and ``extra``)."""
    error = {"message": message, "extensions": {"code": code, **extra}}
    return JSONResponse({"data": None, "errors": [error]}, status_code=status, headers=headers)


def too_large(limit: int) -> Response:
    return error_response(
        413,
        f"The request body exceeds the limit of {limit:,} bytes (KILOWATCH_MAX_BODY_BYTES); "
        "send readings in smaller batches, or load files with `kilowatch import`.",
        BAD_USER_INPUT,
    )


async def answer_or_explain(
    scope: Scope, receive: Receive, send: Send, handle: Callable[[], Awaitable[Response]]
) -> None:
    """Send what ``handle`` answers, or the GraphQL-shaped answer for the failure it raised."""
    try:
        response = await handle()
    except ClientDisconnect:
        logger.info("client disconnected before its request was read: %s %s", scope["method"], scope["path"])
        return
    except HTTPException as error:
        response = error_response(error.status_code, error.reason, BAD_USER_INPUT)
    except UnicodeDecodeError:
        response = error_response(400, NOT_UTF8_MESSAGE, BAD_USER_INPUT)
    except BodyTooLarge as error:
        response = too_large(error.limit)
    except Exception as error:
        response = failure_response(error)
    await response(scope, receive, send)


def failure_response(error: Exception) -> Response:
    """503 for a dependency out of reach (one log line), 500 for anything else (logged with its traceback)."""
    if unavailable(error):
        logger.warning("a dependency is unavailable: %r", error)
        return error_response(
            503,
            UNAVAILABLE_MESSAGE,
            SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_S)},
            retryAfter=RETRY_AFTER_S,
        )
    logger.error("unexpected error while answering a request", exc_info=error)
    return error_response(500, INTERNAL_MESSAGE, "INTERNAL")


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, before reading them.

    A declared ``Content-Length`` over the limit is refused before a byte of the body is read; a body
    sent without one (chunked) is counted as it arrives and refused as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await too_large(self.max_bytes)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if started:
                raise
            await too_large(self.max_bytes)(scope, receive, send)
