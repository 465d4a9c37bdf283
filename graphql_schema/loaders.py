"""DataLoaders for nested fields, one set per request (per event for subscriptions).

Each batch opens its own short session: sibling resolvers run concurrently and must not share one.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.db import SessionFactory
from app.enums import ModelType
from app.services import abtests, alerts, jobs, machines, performance, policies, registry

SeriesKey = tuple[uuid.UUID, ModelType]
LimitedSeriesKey = tuple[uuid.UUID, ModelType, int]
Key = TypeVar("Key", bound=Hashable)

Fetch = Callable[[AsyncSession, Sequence[Any]], Awaitable[dict[Any, Any]]]


def _loader(sessions: SessionFactory, fetch: Fetch, default: Callable[[], Any] = lambda: None) -> DataLoader[Any, Any]:
    async def batch(keys: Sequence[Any]) -> list[Any]:
        async with sessions() as session:
            found = await fetch(session, list(keys))
        return [found[key] if key in found else default() for key in keys]

    return DataLoader(load_fn=batch)


def _per_limit(
    fetch_limited: Callable[[AsyncSession, Sequence[SeriesKey], int], Awaitable[dict[SeriesKey, Any]]],
) -> Fetch:
    """Adapt a (series keys, limit) fetch to keys that carry their own limit, one query per distinct limit."""

    async def fetch(session: AsyncSession, keys: Sequence[LimitedSeriesKey]) -> dict[LimitedSeriesKey, Any]:
        result: dict[LimitedSeriesKey, Any] = {}
        for limit in {key[2] for key in keys}:
            series = [(machine_id, model_type) for machine_id, model_type, lim in keys if lim == limit]
            for (machine_id, model_type), rows in (await fetch_limited(session, series, limit)).items():
                result[(machine_id, model_type, limit)] = rows
        return result

    return fetch


class Loaders:
    def __init__(self, sessions: SessionFactory) -> None:
        self.machine = _loader(sessions, machines.get_many)
        self.reading_stats = _loader(sessions, machines.reading_stats)
        self.latest_performance = _loader(sessions, performance.latest_for_series)
        self.open_alerts = _loader(sessions, alerts.open_alerts_of_series, list)
        self.policy = _loader(sessions, policies.get_many)
        self.champion = _loader(sessions, registry.champions)
        self.version = _loader(sessions, registry.get_versions)
        self.validation_metrics = _loader(sessions, performance.validation_for_versions)
        self.versions = _loader(sessions, _per_limit(registry.versions_of_series), list)
        self.training_jobs = _loader(sessions, _per_limit(jobs.jobs_of_series), list)
        self.champion_history = _loader(sessions, _per_limit(registry.champion_history), list)
        self.running_ab_test = _loader(sessions, abtests.running_of_series)
