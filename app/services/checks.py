"""Input checks shared by services: each raises ``InvalidInput`` naming the offending field."""

from __future__ import annotations

import math
from datetime import datetime

from app.errors import InvalidInput


def require_finite(field: str, value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite number, got {value!r}", field=field)


def require_range(
    field: str,
    value: float | None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> None:
    """Finite and within bounds; ``None`` passes (optional fields)."""
    if value is None:
        return
    require_finite(field, value)
    if minimum is not None and (value <= minimum if exclusive_minimum else value < minimum):
        relation = ">" if exclusive_minimum else "≥"
        raise InvalidInput(f"{field} must be {relation} {minimum:g}, got {value:g}", field=field)
    if maximum is not None and value > maximum:
        raise InvalidInput(f"{field} must be ≤ {maximum:g}, got {value:g}", field=field)


def require_aware(field: str, value: datetime | None) -> None:
    """Energy data crosses DST changes; an instant without an offset is ambiguous, so it is refused."""
    if value is not None and value.utcoffset() is None:
        raise InvalidInput(f"{field} must include a UTC offset (e.g. 2026-01-01T00:00:00Z)", field=field)


def require_limit(field: str, value: int, maximum: int) -> None:
    if not 1 <= value <= maximum:
        raise InvalidInput(f"{field} must be between 1 and {maximum}, got {value}", field=field)


def require_window(start_field: str, start: datetime | None, end_field: str, end: datetime | None) -> None:
    require_aware(start_field, start)
    require_aware(end_field, end)
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"{start_field} must not be after {end_field}", field=start_field)


def camel_case(name: str) -> str:
    """The GraphQL spelling of a field, so messages name what the client actually sent."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)
