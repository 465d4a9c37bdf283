"""Domain errors raised by services.

Each maps to one GraphQL ``extensions.code`` in ``graphql_schema.engine.errors``; services never know about
GraphQL. Messages are written for the person who sent the request and name the offending field.

    KilowatchError
    ├── InvalidInput      → BAD_USER_INPUT
    ├── NotFound          → NOT_FOUND
    └── Conflict          → CONFLICT

A dependency out of reach (the database, Redis) is no domain error: ``unavailable`` recognises it
wherever it surfaces, and callers answer it with ``SERVICE_UNAVAILABLE`` and a time to retry.
"""

from __future__ import annotations

from typing import Any

from redis import exceptions as redis_errors
from sqlalchemy import exc as database_errors

#: The code of an answer refused because a dependency is out of reach, and the wait suggested to the client.
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
RETRY_AFTER_S = 5
INTERNAL_MESSAGE = "Internal server error. The incident was logged."
UNAVAILABLE_MESSAGE = f"A service this request needs is unavailable; retry in {RETRY_AFTER_S} s."
#: PostgreSQL SQLSTATE classes of a lost or refused connection (08) and of a server shutting down (57P).
_OUTAGE_STATES = ("08", "57P")


class KilowatchError(Exception):
    code: str = "INTERNAL"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class InvalidInput(KilowatchError):
    code = "BAD_USER_INPUT"


class NotFound(KilowatchError):
    code = "NOT_FOUND"


class Conflict(KilowatchError):
    code = "CONFLICT"


def unavailable(error: BaseException) -> bool:
    """Whether ``error``, or an exception it was raised from, says a dependency is out of reach.

    That is a refused, reset or timed-out connection (``OSError``), a pool that could hand out no
    connection in time, a connection the driver reports lost, a server shutting down or refusing
    connections, or Redis unreachable; not a query the database refused, which is the caller's error.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | database_errors.TimeoutError | redis_errors.ConnectionError):
            return True
        if isinstance(current, redis_errors.TimeoutError | database_errors.InterfaceError):
            return True
        if isinstance(current, database_errors.DBAPIError) and current.connection_invalidated:
            return True
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str) and state.startswith(_OUTAGE_STATES):
            return True
        current = current.__cause__ or current.__context__
    return False
