"""Fixed windows in memory, and a Redis limiter that fails open (and backs off) when Redis is away."""

from __future__ import annotations

import logging
import socket

import pytest
from redis.asyncio import Redis

from app.runtime.rate_limits import REDIS_BACKOFF_S, MemoryRateLimiter, RedisRateLimiter, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_the_call_after_the_limit_is_refused_until_the_window_closes() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)

    allowed = [await limiter.hit("retrain:t1", cost=1, limit=3, window_s=60) for _ in range(3)]
    clock.now += 15.2
    refused = await limiter.hit("retrain:t1", cost=1, limit=3, window_s=60)
    other_caller = await limiter.hit("retrain:t2", cost=1, limit=3, window_s=60)
    clock.now += 44.8
    reopened = await limiter.hit("retrain:t1", cost=1, limit=3, window_s=60)

    assert allowed == [Verdict(True)] * 3
    assert refused == Verdict(False, retry_after=45)
    assert other_caller.allowed and reopened.allowed


async def test_several_calls_in_one_operation_count_as_several() -> None:
    limiter = MemoryRateLimiter(Clock())

    assert (await limiter.hit("predict:t", cost=3, limit=4, window_s=60)).allowed
    assert not (await limiter.hit("predict:t", cost=2, limit=4, window_s=60)).allowed


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_an_unreachable_redis_lets_calls_through_and_is_left_alone_for_a_while(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    client = Redis.from_url(f"redis://127.0.0.1:{_closed_port()}/0", socket_connect_timeout=0.2)
    limiter = RedisRateLimiter(client, "kilowatch-test:rate", clock)
    try:
        with caplog.at_level(logging.WARNING, logger="kilowatch.rate_limits"):
            first = await limiter.hit("retrain:t", cost=1, limit=0, window_s=60)
            clock.now += REDIS_BACKOFF_S / 2
            during_backoff = await limiter.hit("retrain:t", cost=1, limit=0, window_s=60)
            clock.now += REDIS_BACKOFF_S
            after_backoff = await limiter.hit("retrain:t", cost=1, limit=0, window_s=60)
    finally:
        await client.aclose()

    assert first.allowed and during_backoff.allowed and after_backoff.allowed
    warnings = [record for record in caplog.records if "Redis unavailable" in record.getMessage()]
    assert len(warnings) == 2  # the first failure and the retry after the back-off, nothing in between
