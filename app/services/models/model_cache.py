"""Deserialized models kept per process, so serving does not parse an artifact on every request.

A version's artifact never changes once stored, and version ids are globally unique UUIDs, so a
loaded model can be reused for as long as the process lives without any invalidation; the cache is
bounded (least recently used first out) because a fleet has many versions and few are served at once.
Loading runs in worker threads (``asyncio.to_thread``), hence the lock: it also makes two requests
that miss at the same moment deserialize the artifact once, not twice.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tables import ModelVersion
from app.ml.model_types import FittedModel, get_model_type

#: Versions kept loaded per process: a champion and a challenger for every series being served at once.
DEFAULT_CAPACITY = 64


class ModelCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._models: OrderedDict[uuid.UUID, FittedModel] = OrderedDict()
        self._lock = threading.Lock()

    def reserve(self, count: int) -> None:
        """Keep at least ``count`` models: a process monitoring N series loads N champions every cycle, and
        with fewer places than that each would be parsed again every cycle."""
        with self._lock:
            self._capacity = max(self._capacity, count)

    def cached(self, version_id: uuid.UUID) -> FittedModel | None:
        """The loaded model of ``version_id`` if it is in the cache (and mark it recently used)."""
        with self._lock:
            model = self._models.get(version_id)
            if model is not None:
                self._models.move_to_end(version_id)
            return model

    def load(self, version_id: uuid.UUID, model_type: str, artifact: bytes) -> FittedModel:
        """Deserialize ``artifact`` unless the version is already loaded; blocking, call it from a thread."""
        with self._lock:
            model = self._models.get(version_id)
            if model is None:
                model = get_model_type(model_type).load(artifact)
                self._models[version_id] = model
                if len(self._models) > self._capacity:
                    self._models.popitem(last=False)
            else:
                self._models.move_to_end(version_id)
            return model

    def __len__(self) -> int:
        return len(self._models)


#: The process's cache; shared by every request and task of the process.
MODELS = ModelCache()


async def loaded_models(session: AsyncSession, versions: Sequence[ModelVersion]) -> dict[uuid.UUID, FittedModel]:
    """The fitted model of each version, reading artifacts from the database only for versions not yet loaded.

    ``versions`` may come from queries that deferred the artifact column: it is fetched here, in one
    query for all the misses, so a warm cache costs no artifact transfer at all.
    """
    models = {version.id: model for version in versions if (model := MODELS.cached(version.id)) is not None}
    missing = {version.id: version.model_type.value for version in versions if version.id not in models}
    if missing:
        rows = await session.execute(
            sa.select(ModelVersion.id, ModelVersion.artifact).where(ModelVersion.id.in_(missing))
        )
        artifacts = {version_id: artifact for version_id, artifact in rows}
        for version_id, model_type in missing.items():
            models[version_id] = await asyncio.to_thread(MODELS.load, version_id, model_type, artifacts[version_id])
    return models
