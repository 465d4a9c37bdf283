"""Column types the tables share: UTC instants, JSON documents and enums stored as checked strings.

Also ``json_object``, a JSON document built by the database on either dialect.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases.

    SQLite has no timestamptz: values are stored as naive UTC and given their zone back on read, so
    comparisons and ordering behave the same as on PostgreSQL.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JsonDocument = sa.JSON().with_variant(JSONB(), "postgresql")


class json_object(FunctionElement[Any]):  # noqa: N801 - named like the SQL function it stands for
    """``json_object(key, value, ...)``: a ``JsonDocument`` built from key/value pairs, in SQL.

    SQLite's ``json_object``, PostgreSQL's ``jsonb_build_object``, so that it can stand beside a
    JSONB column in one ``CASE``. Keys must be literal columns (``sa.literal_column("'name'")``):
    ``jsonb_build_object`` takes ``"any"`` arguments, whose bind parameters PostgreSQL cannot type.
    """

    type = JsonDocument
    inherit_cache = True


@compiles(json_object)
def _json_object(element: json_object, compiler: SQLCompiler, **options: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **options)})"


@compiles(json_object, "postgresql")
def _jsonb_build_object(element: json_object, compiler: SQLCompiler, **options: Any) -> str:
    return f"jsonb_build_object({compiler.process(element.clauses, **options)})"


def enum_column(enum_class: type[Enum]) -> sa.Enum:
    """Store an enum as its lower-case value with a CHECK constraint (portable, readable in SQL)."""
    return sa.Enum(
        enum_class,
        values_callable=lambda members: [member.value for member in members],
        native_enum=False,
        create_constraint=True,
        length=32,
        name=f"ck_{enum_class.__name__.lower()}",
        validate_strings=True,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
