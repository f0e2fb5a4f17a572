"""The attempt's moving deadline with one timer (ai_router/deadline.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ai_router.deadline import Deadline


async def paced(gaps: list[float]) -> AsyncIterator[int]:
    for n, gap in enumerate(gaps):
        await asyncio.sleep(gap)
        yield n


async def test_chunks_within_the_moving_deadline_pass_and_a_late_one_times_out() -> None:
    loop = asyncio.get_running_loop()
    source = paced([0.01, 0.05, 0.05, 0.3])
    deadline = Deadline(loop.time() + 0.1)
    try:
        got = []
        for _ in range(3):  # each chunk moves the deadline 0.1 s on: 0.05 s gaps pass
            got.append(await deadline.next(source))
            deadline.move(loop.time() + 0.1)
        with pytest.raises(TimeoutError):
            await deadline.next(source)  # the 0.3 s gap does not
        assert got == [0, 1, 2] and deadline.expired
    finally:
        deadline.close()


async def test_the_consumers_own_time_is_never_interrupted() -> None:
    loop = asyncio.get_running_loop()
    deadline = Deadline(loop.time() + 0.05)
    try:
        assert await deadline.next(paced([0.0, 0.0])) == 0
        await asyncio.sleep(0.1)  # past the deadline, outside `next`: not cancelled here
        with pytest.raises(TimeoutError):
            await deadline.next(paced([0.0]))  # noticed when the next wait starts
    finally:
        deadline.close()


async def test_an_earlier_deadline_re_arms_and_an_outside_cancel_stays_a_cancel() -> None:
    loop = asyncio.get_running_loop()
    deadline = Deadline(loop.time() + 10)
    deadline.move(loop.time() + 0.05)
    started = loop.time()
    with pytest.raises(TimeoutError):
        await deadline.next(paced([1.0]))
    assert loop.time() - started < 0.5
    deadline.close()

    async def wait_long() -> None:
        watched = Deadline(loop.time() + 10)
        try:
            await watched.next(paced([5.0]))
        finally:
            watched.close()

    task = asyncio.create_task(wait_long())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
