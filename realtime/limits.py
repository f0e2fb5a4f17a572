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

import asyncio
import math
import time
from collections.abc import Iterable
from typing import Any, Protocol

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from server.errors import RateLimited

_SOFT = "socket-events"
_HARD = "socket-events-hard"
_SLOTS_PREFIX = "starguide:sockets:"


class TooManyEvents(RateLimited):
    """Past the hard limit: answered like a soft refusal, then the socket is disconnected."""


def _scaled(item: RateLimitItem, factor: int) -> RateLimitItem:
    return type(item)(item.amount * factor, item.multiples, namespace=item.namespace)


class EventLimiter:
    def __init__(self, *, rate: str, disconnect_factor: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._soft = parse_many(rate)
        self._hard = [_scaled(item, disconnect_factor) for item in self._soft]
        # A socket's events are handled concurrently; its checks run one at a time, so a burst
        # cannot pass the soft limit between one event's test and its hit.
        self._locks: dict[str, asyncio.Lock] = {}

    async def _retry_after(self, item: RateLimitItem, kind: str, sid: str) -> int:
        stats = await self._limiter.get_window_stats(item, kind, sid)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def hit(self, sid: str) -> None:
        """Counts one event of the socket. Every event counts toward the hard limit, refused
        ones included (that is what a flood is); only handled ones use up the soft limit, so
        a client that waits `retry_after` gets through again."""
        async with self._locks.setdefault(sid, asyncio.Lock()):
            await self._count(sid)

    async def _count(self, sid: str) -> None:
        for item in self._hard:
            if not await self._limiter.hit(item, _HARD, sid):
                raise TooManyEvents(
                    f"Far too many events on this socket (the limit is {item}); "
                    "it is being disconnected.",
                    retry_after=await self._retry_after(item, _HARD, sid),
                )
        refused = [item for item in self._soft if not await self._limiter.test(item, _SOFT, sid)]
        if refused:
            retry_after = max([await self._retry_after(i, _SOFT, sid) for i in refused])
            raise RateLimited(
                f"Too many events on this socket: the limit is {refused[0]}. Try again shortly.",
                retry_after=retry_after,
            )
        for item in self._soft:
            await self._limiter.hit(item, _SOFT, sid)

    async def forget(self, sid: str) -> None:
        self._locks.pop(sid, None)
        for kind, items in ((_SOFT, self._soft), (_HARD, self._hard)):
            for item in items:
                await self._limiter.clear(item, kind, sid)


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
