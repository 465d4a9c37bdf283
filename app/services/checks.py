"""Input checks shared by services: each raises ``InvalidInput`` naming the offending field."""

from __future__ import annotations

import math
import unicodedata
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


def require_text(field: str, value: str | None, max_length: int) -> None:
    """Free text (a note, a reason): bounded, and without NUL, which PostgreSQL cannot store in text."""
    if value is None:
        return
    if len(value) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters", field=field)


def require_label(field: str, value: str, max_length: int) -> str:
    """A name people read: whitespace runs collapsed, not empty, bounded, free of control characters.

    Control characters are refused rather than stored: PostgreSQL rejects NUL in text outright, and the
    others only ever make a name look like something it is not in a list or a log line.
    """
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(cleaned) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters", field=field)
    if any(unicodedata.category(character) == "Cc" for character in cleaned):
        raise InvalidInput(f"{field} must not contain control characters", field=field)
    return cleaned


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
