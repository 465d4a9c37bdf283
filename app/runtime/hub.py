"""EventHub: one bus subscription per process, fanned out to every live subscriber.

Each subscriber has a bounded queue. Publishing never waits on a subscriber: one whose queue is full
is dropped (its iterator ends with ``SubscriberTooSlow``), and the process and every other subscriber
carry on. The hub starts its single bus stream on first use, so processes without subscribers (workers,
the CLI) never open one.

One event reaches every subscriber of its channel, so the per-subscriber step is kept to a deque append
and, for a subscriber waiting, the wake-up of its task. Fanning one alert out to 1,000 subscribers,
``asyncio.Queue`` put and get (with their unfinished-task counting and getter and putter lists) took
17% of the process's samples, this deque and single waiter 9%.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
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
    """One subscriber's bounded queue, filled by the hub and read by the subscriber's own task."""

    def __init__(self, hub: EventHub, channel: str, size: int) -> None:
        self._hub = hub
        self.channel = channel
        self._size = size
        self._items: deque[Event | Reconnected] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.dropped = False

    def offer(self, item: Event | Reconnected) -> None:
        if self.dropped:
            return
        if len(self._items) < self._size:
            self._items.append(item)
        else:
            self.dropped = True
            self._items.clear()  # release what it held; the reader learns of the drop on its next read
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self) -> Event | Reconnected:
        while not self._items and not self.dropped:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.dropped:
            raise SubscriberTooSlow(
                f"this subscription fell more than {SUBSCRIBER_QUEUE_SIZE} events behind and was closed; "
                "subscribe again (alertRaised accepts `since` to catch up)"
            )
        return self._items.popleft()

    def close(self) -> None:
        self._hub.unsubscribe(self)


class EventHub:
    def __init__(self, bus: EventBus, channels: Sequence[str] = CHANNELS, queue_size: int = SUBSCRIBER_QUEUE_SIZE):
        self._bus = bus
        self._channels = tuple(channels)
        self._queue_size = queue_size
        #: Per channel; a dict keeps subscribers in the order they came, which is the order they are served.
        self._subscriptions: dict[str, dict[Subscription, None]] = {channel: {} for channel in self._channels}
        self._pump: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def subscribe(self, channel: str) -> Subscription:
        """Register first, then return: events published after this call are delivered."""
        subscription = Subscription(self, channel, self._queue_size)
        self._subscriptions[channel][subscription] = None
        if self._pump is None:
            self._pump = asyncio.create_task(self._run(), name="event-hub")
        await self._ready.wait()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions[subscription.channel].pop(subscription, None)

    @property
    def subscriber_count(self) -> int:
        return sum(map(len, self._subscriptions.values()))

    async def _run(self) -> None:
        async for item in self._bus.stream(self._channels):
            if isinstance(item, Subscribed):
                self._ready.set()
            elif isinstance(item, Reconnected):
                for subscriptions in self._subscriptions.values():
                    self._deliver(subscriptions, item)
            else:
                self._deliver(self._subscriptions[item.channel], item)

    @staticmethod
    def _deliver(subscriptions: dict[Subscription, None], item: Event | Reconnected) -> None:
        for subscription in subscriptions:  # offer() only schedules wake-ups: nobody (un)subscribes meanwhile
            subscription.offer(item)

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
