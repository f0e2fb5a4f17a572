"""The per-socket event limiter in-process: moving-window semantics, the hard limit counting
refused events, and no background work per event (issue 20: the memory storage it replaced
walked every socket's key, one worker-thread round trip each, after every event)."""

from __future__ import annotations

import asyncio

import pytest
from limits import parse

from realtime.limits import EventLimiter, TooManyEvents, _MovingWindow
from server.errors import RateLimited


def test_a_moving_window_allows_amount_hits_per_window_and_says_when_the_next_fits() -> None:
    window = _MovingWindow(parse("3/second"))
    assert [window.hit("a", t) for t in (10.0, 10.2, 10.4)] == [True, True, True]
    assert window.hit("a", 10.5) is False  # the fourth within one second
    assert window.test("a", 10.5) is False
    assert window.retry_after("a", 10.5) == 1  # 10.0 leaves the window at 11.0
    assert window.hit("b", 10.5) is True  # another socket has its own window
    assert window.hit("a", 11.01) is True  # 10.0 has left: one place again
    assert window.hit("a", 11.02) is False
    window.forget("a")
    assert window.test("a", 11.02) is True


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    window = _MovingWindow(parse("2/minute"))
    assert window.hit("a", 100.0) and window.hit("a", 130.0)
    assert window.hit("a", 131.0) is False
    assert window.retry_after("a", 131.0) == 29  # 100.0 + 60 - 131.0
    assert window.retry_after("a", 159.5) == 1


async def test_soft_refusals_count_toward_the_hard_limit_only() -> None:
    limiter = EventLimiter(rate="5/minute", disconnect_factor=2)
    for _ in range(5):
        await limiter.hit("s")
    for _ in range(5):  # refused, not handled: the soft window stays full, the hard one fills
        with pytest.raises(RateLimited) as refused:
            await limiter.hit("s")
        assert not isinstance(refused.value, TooManyEvents)
        assert refused.value.details["retry_after"] >= 1
    with pytest.raises(TooManyEvents):
        await limiter.hit("s")  # the 11th event in a minute: past 2 x 5
    await limiter.hit("other")  # per socket
    await limiter.forget("s")
    await limiter.hit("s")  # a forgotten socket starts over


async def test_an_event_starts_no_background_work() -> None:
    limiter = EventLimiter(rate="20/second;600/minute", disconnect_factor=5)
    before = asyncio.all_tasks()
    for i in range(200):
        await limiter.hit(f"s{i}")
    await asyncio.sleep(0)
    # Only tasks that limiting code started (the session's loop runs other tests' servers too):
    # `limits`' memory storage started a clean-up task after every hit.
    files = [
        getattr(getattr(task.get_coro(), "cr_code", None), "co_filename", "")
        for task in asyncio.all_tasks() - before
    ]
    started = [name for name in files if "limits" in name or "realtime" in name]
    assert started == []
