"""EventBus: announces committed changes (job transitions, new or escalated alerts) to live listeners.

Events are hints, never the record: they are published after the database commit, a failed publish
is logged and dropped, and every consumer can re-read the database. ``RedisEventBus`` crosses
processes (workers → API replicas); ``MemoryEventBus`` serves the embedded single process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("kilowatch.events")

Listener = Callable[[str, dict[str, Any]], None]
T = TypeVar("T")
#: Bounds for reconnecting to Redis after it drops (seconds).
RECONNECT_FIRST_S = 0.2
RECONNECT_MAX_S = 5.0


@dataclass(frozen=True, eq=False)
class Event:
    """Compared and hashed by identity: one published event is one object, shared by every subscriber.

    What subscribers compute from the payload alike (the restored row, a rendered GraphQL payload) is
    kept in ``derived``: computed once per process rather than once per subscriber, dropped with the event.
    """

    channel: str
    payload: dict[str, Any]
    derived: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    def derive(self, key: Hashable, compute: Callable[[Event], T]) -> T:
        """``compute(self)``, the first time ``key`` is asked for; the same object after that."""
        try:
            return self.derived[key]
        except KeyError:
            value = self.derived[key] = compute(self)
            return value


@dataclass(frozen=True)
class Subscribed:
    """The subscription is confirmed: every event published from now on will be delivered."""


@dataclass(frozen=True)
class Reconnected:
    """The stream was interrupted and is back: events in between may be lost; re-read the database."""


StreamItem = Event | Subscribed | Reconnected


class EventBus(Protocol):
    async def publish(self, channel: str, payload: dict[str, Any]) -> None: ...

    def stream(self, channels: Sequence[str]) -> AsyncIterator[StreamItem]:
        """``Subscribed`` once listening, then every event on ``channels``; ``Reconnected`` after any gap."""
        ...

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

    async def stream(self, channels: Sequence[str]) -> AsyncIterator[StreamItem]:
        inbox: asyncio.Queue[Event] = asyncio.Queue()
        wanted = set(channels)
        remove = self.listen(
            lambda channel, payload: inbox.put_nowait(Event(channel, payload)) if channel in wanted else None
        )
        try:
            yield Subscribed()  # listening from the moment the listener was registered
            while True:
                yield await inbox.get()
        finally:
            remove()

    async def close(self) -> None:
        self._listeners.clear()


class RedisEventBus:
    """Channel ``jobs`` is the Redis channel ``<prefix>jobs``: deployments sharing a Redis never cross-talk."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    @classmethod
    def connect(cls, url: str, prefix: str) -> RedisEventBus:
        # No socket timeout: a subscription waits for events indefinitely; health checks find dead peers.
        # The connection's name says whose it is in Redis's CLIENT LIST.
        redis = Redis.from_url(
            url,
            client_name=f"{prefix}events",
            socket_connect_timeout=2,
            socket_keepalive=True,
            health_check_interval=30,
        )
        return cls(redis, prefix)

    async def publish(self, channel: str, payload: dict[str, Any]) -> None:
        try:
            await self._redis.publish(self._prefix + channel, json.dumps(payload, separators=(",", ":")))
        except Exception:  # noqa: BLE001 - Redis may vanish; the database already holds the change
            logger.warning("could not publish on %s; listeners will catch up from the database", channel)

    async def stream(self, channels: Sequence[str]) -> AsyncIterator[StreamItem]:
        """One PubSub, re-established with backoff whenever Redis drops.

        ``Subscribed`` (or ``Reconnected`` after a gap) is yielded only once Redis has confirmed every
        SUBSCRIBE, so a caller that reads the database after it cannot miss a later event.
        """
        delay = RECONNECT_FIRST_S
        interrupted = False
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(*(self._prefix + channel for channel in channels))
                confirmed = 0
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        confirmed += 1
                        if confirmed == len(channels):
                            yield Reconnected() if interrupted else Subscribed()
                            interrupted = False
                            delay = RECONNECT_FIRST_S
                    elif message["type"] == "message":
                        yield Event(_text(message["channel"]).removeprefix(self._prefix), json.loads(message["data"]))
            except (RedisConnectionError, RedisTimeoutError, OSError):
                interrupted = True
                logger.warning("event stream lost its Redis connection; reconnecting in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), timeout=2.0)

    async def close(self) -> None:
        await self._redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
