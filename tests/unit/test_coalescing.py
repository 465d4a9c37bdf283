"""Coalesced reads: shared only with reads that arrived before the run started, failures and cancellations contained."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from app.db.coalescing import Coalescer


class Source:
    """A read whose runs are counted and finish only when the test lets them."""

    def __init__(self) -> None:
        self.runs = 0
        self.gates: list[asyncio.Event] = []
        self.fail_run: int | None = None

    async def read(self) -> str:
        self.runs += 1
        number = self.runs
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if number == self.fail_run:
            raise RuntimeError(f"run {number} failed")
        return f"run {number}"

    async def release(self, number: int) -> None:
        for _ in range(100):
            if len(self.gates) >= number:
                self.gates[number - 1].set()
                return
            await asyncio.sleep(0)
        raise AssertionError(f"run {number} never started (runs so far: {self.runs})")


async def started(*tasks: asyncio.Task[Any]) -> None:
    for _ in range(5):
        await asyncio.sleep(0)
    assert not any(task.done() for task in tasks)


async def test_reads_arriving_during_a_run_share_the_next_run_not_the_current_one() -> None:
    coalescer, source = Coalescer(), Source()
    first = asyncio.create_task(coalescer.read("machines", source.read))
    await started(first)
    later = [asyncio.create_task(coalescer.read("machines", source.read)) for _ in range(5)]
    await started(*later)
    assert source.runs == 1  # the later reads wait for the run under way to end

    await source.release(1)
    assert await first == "run 1"
    await source.release(2)

    assert await asyncio.gather(*later) == ["run 2"] * 5
    assert source.runs == 2


async def test_a_read_after_every_run_ended_runs_again_and_other_keys_run_apart() -> None:
    coalescer, source = Coalescer(), Source()
    reads = [asyncio.create_task(coalescer.read(key, source.read)) for key in ("a", "b")]
    await started(*reads)
    assert source.runs == 2
    await source.release(1)
    await source.release(2)
    assert sorted(await asyncio.gather(*reads)) == ["run 1", "run 2"]

    again = asyncio.create_task(coalescer.read("a", source.read))
    await source.release(3)
    assert await again == "run 3"


async def test_a_failed_run_fails_exactly_the_reads_that_shared_it() -> None:
    coalescer, source = Coalescer(), Source()
    source.fail_run = 2
    first = asyncio.create_task(coalescer.read("machines", source.read))
    await started(first)
    sharing = [asyncio.create_task(coalescer.read("machines", source.read)) for _ in range(3)]
    await started(*sharing)
    await source.release(1)
    await source.release(2)

    assert await first == "run 1"
    outcomes = await asyncio.gather(*sharing, return_exceptions=True)
    assert [str(outcome) for outcome in outcomes] == ["run 2 failed"] * 3


async def test_a_reader_that_goes_away_does_not_cancel_the_run_of_the_others() -> None:
    coalescer, source = Coalescer(), Source()
    first = asyncio.create_task(coalescer.read("machines", source.read))
    await started(first)
    leaving, staying = (asyncio.create_task(coalescer.read("machines", source.read)) for _ in range(2))
    await started(leaving, staying)

    first.cancel()
    leaving.cancel()
    await source.release(1)
    await source.release(2)

    assert await staying == "run 2"
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert source.runs == 2


async def test_a_failure_nobody_waits_for_any_more_is_not_reported_as_unretrieved() -> None:
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        coalescer, source = Coalescer(), Source()
        source.fail_run = 1
        alone = asyncio.create_task(coalescer.read("machines", source.read))
        await started(alone)
        alone.cancel()
        await source.release(1)
        for _ in range(5):
            await asyncio.sleep(0)
        del alone, source, coalescer
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert reported == []
