"""DataLoaders for nested fields, one set per request (per event for subscriptions).

Each batch opens its own short session: sibling resolvers run concurrently and must not share one.

A loader is created the first time a request uses it. Most operations use none or one of them, and
building all twelve for every request cost ~20 µs and ~120 objects (loader, cache, closures) that live
in a reference cycle with the request's context, so only the cycle collector could free them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from functools import cached_property
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
        self._sessions = sessions

    @cached_property
    def machine(self) -> DataLoader[Any, Any]:
        return _loader(self._sessions, machines.get_many)

    @cached_property
    def reading_stats(self) -> DataLoader[Any, Any]:
        return _loader(self._sessions, machines.reading_stats)

    @cached_property
    def latest_performance(self) -> DataLoader[Any, Any]:
        return _loader(self._sessions, performance.latest_for_series)

    @cached_property
    def open_alerts(self) -> DataLoader[Any, Any]:
        return _loader(self._sessions, alerts.open_alerts_of_series, list)

    @cached_property
    def policy(self) -> DataLoader[Any, Any]:
        return _loader(self._sessions, policies.get_many)

    @cached_property
    def champion(self) -> DataLoader[Any, Any]:
        return _loader(self._sessions, registry.champions)

    @cached_property
    def version(self) -> DataLoader[Any, Any]:
        return _loader(self._sessions, registry.get_versions)

    @cached_property
    def validation_metrics(self) -> DataLoader[Any, Any]:
        return _loader(self._sessions, performance.validation_for_versions)

    @cached_property
    def versions(self) -> DataLoader[Any, Any]:
        return _loader(self._sessions, _per_limit(registry.versions_of_series), list)

    @cached_property
    def training_jobs(self) -> DataLoader[Any, Any]:
        return _loader(self._sessions, _per_limit(jobs.jobs_of_series), list)

    @cached_property
    def champion_history(self) -> DataLoader[Any, Any]:
        return _loader(self._sessions, _per_limit(registry.champion_history), list)

    @cached_property
    def running_ab_test(self) -> DataLoader[Any, Any]:
        return _loader(self._sessions, abtests.running_of_series)
