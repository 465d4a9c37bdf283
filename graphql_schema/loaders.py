"""DataLoaders for nested fields, one set per request (per event for subscriptions).

Each batch opens its own short session: sibling resolvers run concurrently and must not share one.

A loader is created the first time a request uses it. Most operations use none or one of them, and
building all twelve for every request cost ~20 µs and ~120 objects (loader, cache, closures) that live
in a reference cycle with the request's context, so only the cycle collector could free them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.db.engine import SessionFactory
from app.enums import ModelType
from app.services.alerting import alerts
from app.services.experiments import abtests
from app.services.fleet import machines
from app.services.fleet import reading_stats as machine_reading_stats
from app.services.models import jobs, registry
from app.services.savings import interventions
from app.services.tracking import performance, policies

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


class _OnFirstUse:
    """A ``Loaders`` attribute whose DataLoader is built the first time a request reads it, then kept."""

    def __init__(self, fetch: Fetch, default: Callable[[], Any] = lambda: None) -> None:
        self._fetch = fetch
        self._default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, loaders: Loaders, owner: type | None = None) -> DataLoader[Any, Any]:
        loader = _loader(loaders.sessions, self._fetch, self._default)
        loaders.__dict__[self._name] = loader  # instance attribute from now on: this runs once per request
        return loader


class Loaders:
    machine = _OnFirstUse(machines.get_many)
    reading_stats = _OnFirstUse(machine_reading_stats.of_machines)
    latest_performance = _OnFirstUse(performance.latest_for_series)
    open_alerts = _OnFirstUse(alerts.open_alerts_of_series, list)
    machine_alerts = _OnFirstUse(alerts.open_alerts_of_machines, list)
    policy = _OnFirstUse(policies.get_many)
    champion = _OnFirstUse(registry.champions)
    version = _OnFirstUse(registry.get_versions)
    validation_metrics = _OnFirstUse(performance.validation_for_versions)
    versions = _OnFirstUse(_per_limit(registry.versions_of_series), list)
    training_jobs = _OnFirstUse(_per_limit(jobs.jobs_of_series), list)
    champion_history = _OnFirstUse(_per_limit(registry.champion_history), list)
    running_ab_test = _OnFirstUse(abtests.running_of_series)
    interventions = _OnFirstUse(interventions.of_machines, list)

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions
