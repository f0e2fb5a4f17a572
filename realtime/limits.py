"""Socket limits: how fast one socket may send events, and how many sockets one user may open.

Event rates are counted per socket in this process's memory: a socket lives on one instance,
so nothing needs sharing, and a flood costs no Redis round trip. Past the soft limit an event
is answered `rate_limited` and not handled; a socket that keeps sending past a hard limit
(the soft one times a factor) is a broken or hostile client and is disconnected.

Open sockets are counted per user across instances: in Redis, a sorted set per user of its
sockets scored by expiry, refreshed by each instance's heartbeat like presence, so the sockets
of an instance that died stop counting after the TTL; in memory without Redis. Admission is one
atomic step (a Lua script), so racing connections cannot together exceed the cap.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol

from limits import RateLimitItem, parse_many
from redis.asyncio import Redis

from server.errors import RateLimited

_SLOTS_PREFIX = "starguide:sockets:"


class TooManyEvents(RateLimited):
    """Past the hard limit: answered like a soft refusal, then the socket is disconnected."""


def _scaled(item: RateLimitItem, factor: int) -> RateLimitItem:
    return type(item)(item.amount * factor, item.multiples, namespace=item.namespace)


class _MovingWindow:
    """One limit ("20/second") over every socket: the times of each socket's recent hits.

    A plain in-process moving window (the `limits` package's semantics: a hit is allowed
    while fewer than `amount` hits fall in the last window) without its memory storage, which
    after every hit walks all keys, one worker-thread round trip per key (issue 20: 0.3 ms of
    CPU per socket event, several ms while many sockets had sent events in the last window).
    Here a socket's old hits are dropped when it sends again, and all of them when it goes."""

    __slots__ = ("_amount", "_hits", "_seconds", "item")

    def __init__(self, item: RateLimitItem) -> None:
        self.item = item
        self._amount = item.amount
        self._seconds = float(item.get_expiry())
        self._hits: dict[str, deque[float]] = {}

    def _recent(self, sid: str, now: float) -> deque[float]:
        hits = self._hits.get(sid)
        if hits is None:
            hits = self._hits[sid] = deque()
        cutoff = now - self._seconds
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits

    def test(self, sid: str, now: float) -> bool:
        return len(self._recent(sid, now)) < self._amount

    def hit(self, sid: str, now: float) -> bool:
        hits = self._recent(sid, now)
        if len(hits) >= self._amount:
            return False
        hits.append(now)
        return True

    def retry_after(self, sid: str, now: float) -> int:
        """Whole seconds until the oldest hit in the window leaves it (at least 1)."""
        hits = self._recent(sid, now)
        return max(1, math.ceil(hits[0] + self._seconds - now)) if hits else 1

    def forget(self, sid: str) -> None:
        self._hits.pop(sid, None)


class EventLimiter:
    def __init__(self, *, rate: str, disconnect_factor: int) -> None:
        soft = parse_many(rate)
        self._soft = [_MovingWindow(item) for item in soft]
        self._hard = [_MovingWindow(_scaled(item, disconnect_factor)) for item in soft]

    async def hit(self, sid: str) -> None:
        """Counts one event of the socket. Every event counts toward the hard limit, refused
        ones included (that is what a flood is); only handled ones use up the soft limit, so
        a client that waits `retry_after` gets through again. Nothing here awaits, so a
        socket's concurrent events are checked one at a time without a lock: a burst cannot
        pass the soft limit between one event's test and its hit."""
        now = time.monotonic()
        for window in self._hard:
            if not window.hit(sid, now):
                raise TooManyEvents(
                    f"Far too many events on this socket (the limit is {window.item}); "
                    "it is being disconnected.",
                    retry_after=window.retry_after(sid, now),
                )
        refused = [window for window in self._soft if not window.test(sid, now)]
        if refused:
            raise RateLimited(
                f"Too many events on this socket: the limit is {refused[0].item}. "
                "Try again shortly.",
                retry_after=max(window.retry_after(sid, now) for window in refused),
            )
        for window in self._soft:
            window.hit(sid, now)

    async def forget(self, sid: str) -> None:
        for window in (*self._soft, *self._hard):
            window.forget(sid)


class SocketSlots(Protocol):
    async def acquire(self, user_id: str, sid: str) -> bool:
        """Takes a slot for the socket; False when the user already has `cap` open sockets."""
        ...

    async def release(self, user_id: str, sid: str) -> None: ...

    async def refresh(self, entries: Iterable[tuple[str, str]]) -> None:
        """Extends the (user, sid) slots held by this instance."""
        ...


class MemorySlots:
    """One process: it sees every socket's disconnect, so slots need no expiry."""

    def __init__(self, *, cap: int) -> None:
        self._cap = cap
        self._sids: dict[str, set[str]] = {}

    async def acquire(self, user_id: str, sid: str) -> bool:
        sids = self._sids.setdefault(user_id, set())
        if sid not in sids and len(sids) >= self._cap:
            return False
        sids.add(sid)
        return True

    async def release(self, user_id: str, sid: str) -> None:
        sids = self._sids.get(user_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self._sids[user_id]

    async def refresh(self, entries: Iterable[tuple[str, str]]) -> None:
        return None


# Drops lapsed slots, then adds this one if the user is under the cap: check and add in one
# atomic step. KEYS[1] the user's set; ARGV: now, expiry, cap, sid, key TTL in seconds.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[4])
    and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class RedisSlots:
    def __init__(self, redis: Redis, *, cap: int, ttl_s: int) -> None:
        self._redis = redis
        self._cap = cap
        self._ttl_s = ttl_s
        self._acquire: Any = redis.register_script(_ACQUIRE)

    @staticmethod
    def key(user_id: str) -> str:
        return f"{_SLOTS_PREFIX}{user_id}"

    async def acquire(self, user_id: str, sid: str) -> bool:
        now = time.time()
        taken = await self._acquire(
            keys=[self.key(user_id)],
            args=[now, now + self._ttl_s, self._cap, sid, self._ttl_s * 2],
        )
        return bool(int(taken))

    async def release(self, user_id: str, sid: str) -> None:
        await self._redis.zrem(self.key(user_id), sid)

    async def refresh(self, entries: Iterable[tuple[str, str]]) -> None:
        expiry = time.time() + self._ttl_s
        async with self._redis.pipeline(transaction=False) as pipe:
            count = 0
            for user_id, sid in entries:
                key = self.key(user_id)
                pipe.zadd(key, {sid: expiry}, xx=True)  # a released slot stays released
                pipe.expire(key, self._ttl_s * 2)
                count += 1
            if count:
                await pipe.execute()
