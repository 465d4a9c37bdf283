"""JSON snapshots of rows for events, and back: subscribers rebuild the same rows queries return."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import inspect

from app.db.column_types import UtcDateTime
from app.db.tables import Alert, TrainingJob
from app.runtime.events import Event

Row = TypeVar("Row", TrainingJob, Alert)


def snapshot(row: TrainingJob | Alert) -> dict[str, Any]:
    """Every column, with ids and instants as strings and enums as their stored values."""
    return {column.key: _plain(getattr(row, column.key)) for column in type(row).__mapper__.column_attrs}


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def restore(table: type[Row], data: dict[str, Any]) -> Row:
    """A detached row from ``snapshot`` output, with ids, instants and enums typed again."""
    values = {}
    for column in inspect(table).column_attrs:
        value = data.get(column.key)
        column_type = column.columns[0].type
        if value is not None:
            if isinstance(column_type, sa.Uuid):
                value = uuid.UUID(value)
            elif isinstance(column_type, sa.Enum) and column_type.enum_class is not None:
                value = column_type.enum_class(value)
            elif isinstance(column_type, UtcDateTime):
                value = datetime.fromisoformat(value)
        values[column.key] = value
    return table(**values)


@dataclass(frozen=True, slots=True)
class LiveRow(Generic[Row]):
    """What a live feed yields: a row read from the database, or one carried by a bus event.

    The event is kept so a websocket delivery can render it once for every subscriber it reaches.
    """

    row: Row
    event: Event | None = None
