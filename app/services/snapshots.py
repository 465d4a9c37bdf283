"""JSON snapshots of rows for events: the shape subscribers rebuild GraphQL objects from."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import inspect

from app.tables import Alert, TrainingJob


def snapshot(row: TrainingJob | Alert) -> dict[str, Any]:
    """Every column, with ids and instants as strings and enums as their stored values."""
    return {column.key: _plain(getattr(row, column.key)) for column in inspect(type(row)).column_attrs}


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value
