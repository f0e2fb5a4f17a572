"""Per-process caches of documents read on every request (the caller's account, its
organization), kept correct across instances by invalidation over the control channel.

Why: the account behind a token was read from MongoDB on every REST request and socket
connect, the organization on every chat message; both change rarely. Every write path of the
owning service calls `invalidate(key)` after its write: the entry is dropped here at once and
a control message (`server/cluster.py`) drops it on every other instance, the writer's
included. Delivery of control messages is at most once, so three things bound staleness:
- a read that overlaps an invalidation (here or from another instance) is not cached, so a
  slow read cannot put back what a newer write replaced;
- when the control channel comes back after a loss, every entry is dropped (the messages
  sent meanwhile are gone);
- entries expire after `ttl_s` anyway: the bound for writes made outside the services (a
  script against a live database without Redis, an operator in the shell).
The cached documents are shared between requests: callers must not mutate them (none does;
writes go through the owner's service, which invalidates).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from redis.exceptions import RedisError

from server.cluster import RESUBSCRIBED, Cluster

log = logging.getLogger("starguide.lookups")

V = TypeVar("V")
ALL = "*"  # the key of an invalidation that drops every entry


class InvalidatedCache(Generic[V]):
    """A bounded LRU of `key -> value` with cluster-wide invalidation under `kind`."""

    def __init__(self, kind: str, *, max_items: int = 20_000, ttl_s: float = 60.0) -> None:
        self.kind = kind
        self._max_items = max_items
        self._ttl_s = ttl_s
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._epoch = 0  # bumped by every invalidation: a read that saw it change is not kept
        self._cluster: Cluster | None = None

    def attach(self, cluster: Cluster) -> None:
        """Listens for invalidations from other instances on `cluster` (the lifespan's)."""
        self._cluster = cluster
        self.clear()
        cluster.on(self.kind, self._on_message)
        cluster.on(RESUBSCRIBED, self._on_resubscribed)

    def detach(self, cluster: Cluster) -> None:
        if self._cluster is cluster:
            self._cluster = None
        self.clear()

    async def get(self, key: Hashable, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The cached value, or `load()`'s (a miss, None, is not cached)."""
        name = str(key)
        now = time.monotonic()
        found = self._items.get(name)
        if found is not None:
            if found[0] > now:
                self._items.move_to_end(name)
                return found[1]
            del self._items[name]
        epoch = self._epoch
        value = await load()
        if value is not None and epoch == self._epoch:
            self._items[name] = (now + self._ttl_s, value)
            if len(self._items) > self._max_items:
                self._items.popitem(last=False)
        return value

    async def invalidate(self, key: Hashable) -> None:
        """After a write: drops `key` here and on every other instance."""
        self.drop(str(key))
        await self._publish(str(key))

    async def _publish(self, key: str) -> None:
        """A write has happened whether or not Redis takes the message: its failure is
        logged, not raised. The other instances lost their subscription too and drop
        everything when it comes back (`RESUBSCRIBED`)."""
        if self._cluster is None:
            return
        try:
            await self._cluster.publish(self.kind, {"key": key})
        except (RedisError, OSError) as exc:
            log.warning("cache invalidation not published: %s", type(exc).__name__)

    async def invalidate_all(self) -> None:
        """After a write that changes many entries (a group deleted, a document ready)."""
        self.clear()
        await self._publish(ALL)

    def drop(self, name: str) -> None:
        self._epoch += 1
        self._items.pop(name, None)

    def clear(self) -> None:
        self._epoch += 1
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    async def _on_message(self, data: dict[str, Any]) -> None:
        key = data.get("key")
        if key == ALL:
            self.clear()
        elif isinstance(key, str):
            self.drop(key)

    async def _on_resubscribed(self, data: dict[str, Any]) -> None:
        self.clear()
