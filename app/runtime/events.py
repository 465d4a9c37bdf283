"""EventBus: announces committed changes (job transitions, new or escalated alerts) to live listeners.

Events are hints, never the record: they are published after the database commit, a failed publish
is logged and dropped, and every consumer can re-read the database. ``RedisEventBus`` crosses
processes (workers → API replicas); ``MemoryEventBus`` serves the embedded single process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import Redis

logger = logging.getLogger("kilowatch.events")

Listener = Callable[[str, dict[str, Any]], None]


class EventBus(Protocol):
    async def publish(self, channel: str, payload: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class MemoryEventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Register a synchronous listener; returns the function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def publish(self, channel: str, payload: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(channel, payload)
            except Exception:  # one broken listener must not stop the others or the publisher
                logger.exception("event listener failed on %s", channel)

    async def close(self) -> None:
        self._listeners.clear()


class RedisEventBus:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    @classmethod
    def connect(cls, url: str) -> RedisEventBus:
        return cls(Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30))

    async def publish(self, channel: str, payload: dict[str, Any]) -> None:
        try:
            await self._redis.publish(channel, json.dumps(payload, separators=(",", ":")))
        except Exception:  # noqa: BLE001 - Redis may vanish; the database already holds the change
            logger.warning("could not publish on %s; listeners will catch up from the database", channel)

    async def close(self) -> None:
        await self._redis.aclose()
