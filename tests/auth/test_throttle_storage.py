"""The in-process limits storage: the same windows as `limits`' own, a clean-up without a
worker thread per key (server/auth/throttle.py `SweptMemoryStorage`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from limits import parse, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from server.auth.throttle import SweptMemoryStorage, limits_storage


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting what is sent to a worker thread."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


async def _hits(storage: MemoryStorage, keys: int) -> int:
    """A hit for each of `keys` learners, then 50 more; how many worker-thread calls they made."""
    executor = CountingExecutor()
    loop = asyncio.get_running_loop()
    loop.set_default_executor(executor)
    limiter = MovingWindowRateLimiter(storage)
    day = parse("2000/day")
    for n in range(keys):
        assert await limiter.hit(day, "chat", str(n))
    for n in range(50):
        assert await limiter.hit(day, "chat", str(n))
    await asyncio.sleep(0.05)  # a clean-up started by the last hit runs
    if storage.timer is not None:
        storage.timer.cancel()
        await asyncio.gather(storage.timer, return_exceptions=True)
    loop.set_default_executor(ThreadPoolExecutor())  # a fresh one for whatever runs next
    executor.shutdown()
    return executor.submitted


async def test_hits_never_send_the_clean_up_to_a_worker_thread() -> None:
    # limits' own storage hands a bisection per held key to a thread after every hit ...
    assert await _hits(MemoryStorage(), 200) >= 100
    # ... ours cleans up on the loop.
    assert await _hits(SweptMemoryStorage(), 200) == 0


async def test_the_windows_count_as_with_limits_own_storage() -> None:
    ours, theirs = SweptMemoryStorage(), MemoryStorage()
    for storage in (ours, theirs):
        limiter = MovingWindowRateLimiter(storage)
        items = parse_many("3/second;5/minute")
        outcomes = []
        for _ in range(4):
            outcomes.append(all([await limiter.hit(item, "login", "a") for item in items]))
        assert outcomes == [True, True, True, False]
        stats = await limiter.get_window_stats(items[1], "login", "a")
        assert stats.remaining == 1  # the refused 4th hit still took the minute's entry
    assert limits_storage(None).__class__ is SweptMemoryStorage


async def test_lapsed_entries_are_dropped_and_live_ones_kept() -> None:
    storage = SweptMemoryStorage()
    storage.SWEEP_EVERY_S = 0.0
    limiter = MovingWindowRateLimiter(storage)
    second, minute = parse("5/second"), parse("5/minute")
    assert await limiter.hit(second, "short")
    assert await limiter.hit(minute, "long")
    assert await limiter.hit(minute, "long")
    await asyncio.sleep(1.1)  # the one-second entry lapses; the minute's do not
    assert await limiter.hit(minute, "other")  # a hit starts the clean-up
    await asyncio.sleep(0.05)
    held = {key: len(entries) for key, entries in storage.events.items()}
    assert not [key for key in held if "short" in key], held
    assert [n for key, n in held.items() if "long" in key] == [2], held
    assert (await limiter.get_window_stats(minute, "long")).remaining == 3


async def test_the_clean_up_hook_still_exists_in_limits() -> None:
    """`SweptMemoryStorage` replaces a private, name-mangled method of `limits`: a release
    that renames it would silently bring the thread hops back."""
    assert callable(getattr(MemoryStorage, "_MemoryStorage__expire_events", None))
    assert SweptMemoryStorage._MemoryStorage__expire_events is not (  # type: ignore[attr-defined]
        MemoryStorage._MemoryStorage__expire_events  # type: ignore[attr-defined]
    )
