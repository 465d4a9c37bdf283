"""The retry policy of a running job's outcome writes: transient errors retried within the window, others not."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import exc

from app.services.models.liveness import transient, with_retries


def test_connection_failures_and_locks_are_transient_and_mistakes_are_not() -> None:
    assert transient(ConnectionRefusedError(111, "refused"))
    assert transient(TimeoutError())
    assert transient(exc.OperationalError("INSERT", {}, Exception("database is locked")))
    assert not transient(exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not transient(ValueError("bad input"))


async def test_a_transient_failure_is_retried_until_it_succeeds() -> None:
    attempts = []

    async def flaky() -> str:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) < 3:
            raise ConnectionResetError(104, "reset")
        return "stored"

    assert await with_retries(flaky, within_s=5, what="storing") == "stored"
    assert len(attempts) == 3 and attempts[2] - attempts[1] > attempts[1] - attempts[0]  # backing off


async def test_retries_stop_at_the_window_with_the_last_error() -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def down() -> None:
        raise ConnectionRefusedError(111, "refused")

    with pytest.raises(ConnectionRefusedError):
        await with_retries(down, within_s=1.0, what="storing")
    assert 0.5 < loop.time() - began <= 1.2


async def test_a_call_that_hangs_is_cut_at_the_window() -> None:
    began = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        await with_retries(lambda: asyncio.sleep(60), within_s=0.5, what="storing")
    assert asyncio.get_running_loop().time() - began < 1.5


async def test_a_mistake_is_not_retried() -> None:
    attempts = 0

    async def wrong() -> None:
        nonlocal attempts
        attempts += 1
        raise ValueError("not a database problem")

    with pytest.raises(ValueError):
        await with_retries(wrong, within_s=5, what="storing")
    assert attempts == 1
