"""Domain errors raised by services.

Each maps to one GraphQL ``extensions.code`` in ``graphql_schema.errors``; services never know about
GraphQL. Messages are written for the person who sent the request and name the offending field.

    KilowatchError
    ├── InvalidInput      → BAD_USER_INPUT
    ├── NotFound          → NOT_FOUND
    └── Conflict          → CONFLICT
"""

from __future__ import annotations

from typing import Any


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
