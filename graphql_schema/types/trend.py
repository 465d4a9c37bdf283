"""Performance trend, shared by the root query and ``ModelSeries.performanceTrend``."""

from __future__ import annotations

import uuid

from app.enums import ModelType
from app.services.tracking import performance
from graphql_schema.engine.context import Info
from graphql_schema.types.performance import PerformanceMetrics


async def load_trend(info: Info, machine_id: uuid.UUID, model_type: ModelType, days: int) -> list[PerformanceMetrics]:
    settings = info.context.resources.settings
    async with info.context.read() as session:
        rows = await performance.trend(session, machine_id, model_type, days, settings.max_trend_points)
    return [PerformanceMetrics.from_row(row) for row in rows]
