"""EventHub: one bus subscription per process, fanned out to every live subscriber.

Each subscriber has a bounded queue. Publishing never waits on a subscriber: one whose queue is full
is dropped (its iterator ends with ``SubscriberTooSlow``), and the process and every other subscriber
carry on. The hub starts its single bus stream on first use, so processes without subscribers (workers,
the CLI) never open one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from app.constants import ALERTS_CHANNEL, JOBS_CHANNEL
from app.errors import KilowatchError
from app.runtime.events import Event, EventBus, Reconnected, Subscribed

logger = logging.getLogger("kilowatch.hub")

#: Events a subscriber may have waiting before it is considered stalled.
SUBSCRIBER_QUEUE_SIZE = 1_000
CHANNELS = (JOBS_CHANNEL, ALERTS_CHANNEL)


class SubscriberTooSlow(KilowatchError):
    """The subscriber fell more than SUBSCRIBER_QUEUE_SIZE events behind and was disconnected."""

    code = "RATE_LIMITED"


class Subscription:
    def __init__(self, hub: EventHub, channel: str, size: int) -> None:
        self._hub = hub
        self.channel = channel
        self._queue: asyncio.Queue[Event | Reconnected] = asyncio.Queue(maxsize=size)
        self.dropped = False

    def offer(self, item: Event | Reconnected) -> None:
        if self.dropped:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped = True
            self._queue = asyncio.Queue()  # release what it held; the reader wakes on the marker below
            self._queue.put_nowait(Reconnected())

    async def next(self) -> Event | Reconnected:
        item = await self._queue.get()
        if self.dropped:
            raise SubscriberTooSlow(
                f"this subscription fell more than {SUBSCRIBER_QUEUE_SIZE} events behind and was closed; "
                "subscribe again (alertRaised accepts `since` to catch up)"
            )
        return item

    def close(self) -> None:
        self._hub.unsubscribe(self)


class EventHub:
    def __init__(self, bus: EventBus, channels: Sequence[str] = CHANNELS, queue_size: int = SUBSCRIBER_QUEUE_SIZE):
        self._bus = bus
        self._channels = tuple(channels)
        self._queue_size = queue_size
        self._subscriptions: set[Subscription] = set()
        self._pump: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def subscribe(self, channel: str) -> Subscription:
        """Register first, then return: events published after this call are delivered."""
        subscription = Subscription(self, channel, self._queue_size)
        self._subscriptions.add(subscription)
        if self._pump is None:
            self._pump = asyncio.create_task(self._run(), name="event-hub")
        await self._ready.wait()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    async def _run(self) -> None:
        async for item in self._bus.stream(self._channels):
            if isinstance(item, Subscribed):
                self._ready.set()
            else:
                self._deliver(item)

    def _deliver(self, item: Event | Reconnected) -> None:
        for subscription in list(self._subscriptions):
            if isinstance(item, Reconnected) or subscription.channel == item.channel:
                subscription.offer(item)

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
