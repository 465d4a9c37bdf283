"""Fixed-window rate limits per caller: in process memory (embedded mode) or shared through Redis.

A window opens with a caller's first counted call and lasts ``window_s``; calls beyond the limit inside
it are refused with the seconds left until it closes. On Redis one Lua script does the increment, the
expiry and the read atomically, so any number of API processes share one count.

When Redis cannot be reached the limiter fails open: the calls it guards are also guarded by their own
invariants (one active training job per series, bounded prediction batches), while refusing every call
would turn a Redis outage into an API outage. Each failure is logged, and Redis is left alone for a few
seconds afterwards so a dead server does not add its connect timeout to every request.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.config import Settings

logger = logging.getLogger("kilowatch.rate_limits")

#: Counter keys are ``<KILOWATCH_REDIS_PREFIX>:rate:<field>:<token id>``.
RATE_KEYS = "rate"
REDIS_TIMEOUT_S = 0.25
REDIS_BACKOFF_S = 5.0
#: KEYS[1] counter; ARGV[1] cost, ARGV[2] window in ms. Returns {count, ms until the window closes}.
FIXED_WINDOW_SCRIPT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {count, ttl}
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    #: Whole seconds until the window closes; 0 when allowed.
    retry_after: int = 0


def _verdict(count: int, limit: int, seconds_left: float) -> Verdict:
    if count <= limit:
        return Verdict(True)
    return Verdict(False, max(1, math.ceil(seconds_left)))


class RateLimiter(Protocol):
    async def hit(self, key: str, *, cost: int, limit: int, window_s: float) -> Verdict:
        """Count ``cost`` calls against ``key`` and say whether they fit in the current window."""
        ...


class MemoryRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: key → (window end, calls counted in it)
        self._windows: dict[str, tuple[float, int]] = {}

    async def hit(self, key: str, *, cost: int, limit: int, window_s: float) -> Verdict:
        now = self._clock()
        ends, count = self._windows.get(key, (0.0, 0))
        if ends <= now:
            self._forget_closed(now)
            ends, count = now + window_s, 0
        count += cost
        self._windows[key] = (ends, count)
        return _verdict(count, limit, ends - now)

    def _forget_closed(self, now: float) -> None:
        if len(self._windows) > 1_000:
            self._windows = {key: window for key, window in self._windows.items() if window[0] > now}


class RedisRateLimiter:
    def __init__(self, client: Redis, key_prefix: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._script = client.register_script(FIXED_WINDOW_SCRIPT)
        self._key_prefix = key_prefix
        self._clock = clock
        self._unavailable_until = 0.0

    async def hit(self, key: str, *, cost: int, limit: int, window_s: float) -> Verdict:
        if self._clock() < self._unavailable_until:
            return Verdict(True)
        try:
            count, milliseconds_left = await self._script(
                keys=[f"{self._key_prefix}:{key}"], args=[cost, math.ceil(window_s * 1000)]
            )
        except (RedisError, OSError) as error:
            self._unavailable_until = self._clock() + REDIS_BACKOFF_S
            logger.warning("rate limits not enforced for %.0f s: Redis unavailable (%s)", REDIS_BACKOFF_S, error)
            return Verdict(True)
        return _verdict(int(count), limit, int(milliseconds_left) / 1000)


@asynccontextmanager
async def open_rate_limiter(settings: Settings) -> AsyncIterator[RateLimiter]:
    """Shared through Redis when the service has one, else local to this process."""
    if settings.redis_url is None:
        yield MemoryRateLimiter()
        return
    client = Redis.from_url(settings.redis_url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S)
    try:
        yield RedisRateLimiter(client, settings.redis_name(RATE_KEYS))
    finally:
        await client.aclose()
