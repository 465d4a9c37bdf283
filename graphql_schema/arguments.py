"""Argument handling shared by resolvers."""

from __future__ import annotations

from app.services.checks import require_limit
from graphql_schema.engine.context import Info


def list_limit(info: Info, limit: int | None, default: int) -> int:
    """An explicit null means the documented default; anything else must be within the server's cap."""
    value = default if limit is None else limit
    require_limit("limit", value, info.context.resources.settings.max_list_limit)
    return value


def or_default(value: int | None, default: int) -> int:
    return default if value is None else value
