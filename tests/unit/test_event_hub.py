"""The hub fans one bus stream out to many subscribers; a stalled one is dropped, the rest carry on."""

from __future__ import annotations

import asyncio

import pytest

from app.constants import ALERTS_CHANNEL, JOBS_CHANNEL
from app.runtime.events import Event, MemoryEventBus
from app.runtime.hub import EventHub, SubscriberTooSlow


async def test_a_stalled_subscriber_is_dropped_without_delaying_the_others() -> None:
    bus = MemoryEventBus()
    hub = EventHub(bus, queue_size=10)
    stalled = await hub.subscribe(ALERTS_CHANNEL)
    readers = [await hub.subscribe(ALERTS_CHANNEL) for _ in range(20)]
    received: list[list[int]] = [[] for _ in readers]

    async def read(index: int) -> None:
        for _ in range(100):
            item = await readers[index].next()
            assert isinstance(item, Event)
            received[index].append(item.payload["n"])

    consumers = [asyncio.create_task(read(index)) for index in range(len(readers))]
    for number in range(100):
        await bus.publish(ALERTS_CHANNEL, {"n": number})
        await asyncio.sleep(0)  # readers keep up; the stalled subscriber never reads
    await asyncio.wait_for(asyncio.gather(*consumers), timeout=5)

    assert all(numbers == list(range(100)) for numbers in received)
    with pytest.raises(SubscriberTooSlow):
        await stalled.next()
    assert hub.subscriber_count == len(readers) + 1  # the stalled one leaves when its resolver closes it
    stalled.close()
    assert hub.subscriber_count == len(readers)
    await hub.close()


async def test_subscribers_get_everything_published_after_subscribing_and_only_their_channel() -> None:
    """An event published just before subscribing may still arrive (resolvers dedupe against the database)."""
    bus = MemoryEventBus()
    hub = EventHub(bus)
    early = await hub.subscribe(JOBS_CHANNEL)
    await bus.publish(JOBS_CHANNEL, {"n": 1})
    late = await hub.subscribe(JOBS_CHANNEL)
    await bus.publish(ALERTS_CHANNEL, {"n": 2})
    await bus.publish(JOBS_CHANNEL, {"n": 3})
    await asyncio.sleep(0)

    assert [(await early.next()).payload["n"] for _ in range(2)] == [1, 3]  # type: ignore[union-attr]
    late_numbers = [(await late.next()).payload["n"]]  # type: ignore[union-attr]
    if late_numbers == [1]:
        late_numbers.append((await late.next()).payload["n"])  # type: ignore[union-attr]
    assert late_numbers[-1] == 3 and 2 not in late_numbers
    await hub.close()
