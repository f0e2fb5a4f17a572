"""The per-process caches kept by invalidation (server/lookups.py), on a real control channel
(without Redis a publish reaches this process's handlers directly: one instance)."""

from __future__ import annotations

import asyncio

from server.cluster import RESUBSCRIBED, Cluster
from server.lookups import InvalidatedCache


class Loads:
    """A loader that counts its reads and can be held mid-read."""

    def __init__(self) -> None:
        self.calls = 0
        self.value = "v1"
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> str:
        self.calls += 1
        value = self.value
        if self.gate is not None:
            await self.gate.wait()
        return value


async def test_a_cached_value_is_read_once_until_invalidated_through_the_channel() -> None:
    cluster = Cluster(None)
    cache: InvalidatedCache[str] = InvalidatedCache("test:changed")
    cache.attach(cluster)
    loads = Loads()
    assert await cache.get("k", loads) == "v1"
    assert await cache.get("k", loads) == "v1"
    assert loads.calls == 1
    loads.value = "v2"
    await cache.invalidate("k")
    assert await cache.get("k", loads) == "v2" and loads.calls == 2
    # Another instance's message (here: dispatched on the channel) drops it too.
    loads.value = "v3"
    await cluster.publish("test:changed", {"key": "k"})
    assert await cache.get("k", loads) == "v3"
    loads.value = "v4"
    await cache.invalidate_all()
    assert await cache.get("k", loads) == "v4"


async def test_a_read_that_overlaps_an_invalidation_is_not_kept() -> None:
    cache: InvalidatedCache[str] = InvalidatedCache("test:changed")
    cache.attach(Cluster(None))
    loads = Loads()
    loads.gate = asyncio.Event()
    slow = asyncio.create_task(cache.get("k", loads))  # reads "v1", then waits
    await asyncio.sleep(0)
    loads.value = "v2"
    await cache.invalidate("k")  # the write that made "v1" stale, during the read
    loads.gate.set()
    assert await slow == "v1"
    loads.gate = None
    assert await cache.get("k", loads) == "v2"  # the stale read was not cached


async def test_everything_is_dropped_when_the_channel_comes_back_and_misses_are_not_kept() -> None:
    cluster = Cluster(None)
    cache: InvalidatedCache[str] = InvalidatedCache("test:changed", max_items=2)
    cache.attach(cluster)
    loads = Loads()
    await cache.get("a", loads)
    await cache.get("b", loads)
    await cache.get("c", loads)
    assert len(cache) == 2  # bounded: the least recently used went
    await cluster.publish(RESUBSCRIBED, {})
    assert len(cache) == 0

    async def nothing() -> str | None:
        return None

    assert await cache.get("gone", nothing) is None
    assert len(cache) == 0
