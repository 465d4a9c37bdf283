from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import strawberry
from strawberry.scalars import JSON

from app.db import tables
from graphql_schema.engine.context import Info
from graphql_schema.enums import MetricsSource, ModelType
from graphql_schema.types.drift import DriftVerdict


@strawberry.type(description="One evaluation of a model series; error metrics are fractions (0.12 = 12 %).")
class PerformanceMetrics:
    id: uuid.UUID
    machine_id: uuid.UUID
    model_type: ModelType
    model_version_id: uuid.UUID | None
    source: MetricsSource
    evaluated_at: datetime
    window_start: datetime | None
    window_end: datetime | None
    sample_count: int
    # The metric fields, one per metric column (``tables.METRIC_COLUMNS``, their one list), in its order.
    __annotations__.update(dict.fromkeys(tables.METRIC_COLUMNS, "float | None"))
    drift_detected: bool
    drift_score: float | None
    extra: JSON = strawberry.field(
        description="Further metrics where measured: adjusted R², WAPE, MASE, fractional savings uncertainty."
    )
    #: The evaluated version's number when the caller read it already (the fleet page: the champion's).
    known_version: strawberry.Private[int | None] = None

    @strawberry.field(
        description="The data-drift verdict the alert logic used for this evaluation (severity, method, meaning); "
        "driftScore is the raw PSI beside it. Null where no drift check ran or it predates verdicts."
    )
    def drift_verdict(self) -> DriftVerdict | None:
        stored = self.extra.get("drift_verdict") if isinstance(self.extra, dict) else None
        return DriftVerdict.from_dict(stored) if stored else None

    @strawberry.field(graphql_type=int | None, description="Version number of the evaluated model version.")
    def model_version(self, info: Info) -> int | None | Awaitable[int | None]:
        if self.model_version_id is None or self.known_version is not None:
            return self.known_version
        return self._load_version(info, self.model_version_id)

    @staticmethod
    async def _load_version(info: Info, version_id: uuid.UUID) -> int | None:
        version = await info.context.loaders.version.load(version_id)
        return version.version if version else None

    @classmethod
    def from_row(
        cls, row: tables.PerformanceMetrics | sa.Row[Any], known_version: int | None = None
    ) -> PerformanceMetrics:
        """From a stored row, or a point of ``performance.trend`` (a row with the same fields)."""
        return cls(
            known_version=known_version,
            id=row.id,
            machine_id=row.machine_id,
            model_type=row.model_type,
            model_version_id=row.model_version_id,
            source=row.source,
            evaluated_at=row.evaluated_at,
            window_start=row.window_start,
            window_end=row.window_end,
            sample_count=row.sample_count,
            **{name: getattr(row, name) for name in tables.METRIC_COLUMNS},
            drift_detected=row.drift_detected,
            drift_score=row.drift_score,
            extra=JSON(row.extra or {}),
        )
