"""Who has a socket in a conversation, for `presence` events and the join answer.

Each entry is (user, socket) with an expiry; the instance holding the socket refreshes it (a
heartbeat), so the sockets of an instance that dies lapse after the TTL instead of staying
"online" forever. With Redis an entry is a member of a sorted set per conversation scored by
its expiry time; without it, a dict in this process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol

from redis.asyncio import Redis

_KEY_PREFIX = "starguide:presence:"


class PresenceStore(Protocol):
    async def add(self, conversation_id: str, user_id: str, sid: str) -> bool:
        """Records the socket; True when it is the user's first one in the conversation."""
        ...

    async def remove(self, conversation_id: str, user_id: str, sid: str) -> bool:
        """Forgets the socket; True when it was the user's last one in the conversation."""
        ...

    async def online(self, conversation_id: str) -> list[str]: ...

    async def refresh(self, entries: Iterable[tuple[str, str, str]]) -> None:
        """Extends (conversation, user, sid) entries held by this instance."""
        ...


def _member(user_id: str, sid: str) -> str:
    return f"{user_id}|{sid}"


def _user_of(member: str) -> str:
    return member.partition("|")[0]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class MemoryPresence:
    def __init__(self, *, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._entries: dict[str, dict[str, float]] = {}  # conversation -> member -> expiry

    def _live(self, conversation_id: str) -> dict[str, float]:
        entries = self._entries.setdefault(conversation_id, {})
        now = time.time()
        for member in [m for m, expiry in entries.items() if expiry < now]:
            del entries[member]
        return entries

    async def add(self, conversation_id: str, user_id: str, sid: str) -> bool:
        entries = self._live(conversation_id)
        first = not any(_user_of(m) == user_id for m in entries)
        entries[_member(user_id, sid)] = time.time() + self._ttl_s
        return first

    async def remove(self, conversation_id: str, user_id: str, sid: str) -> bool:
        entries = self._live(conversation_id)
        if entries.pop(_member(user_id, sid), None) is None:
            return False
        last = not any(_user_of(m) == user_id for m in entries)
        if not entries:
            del self._entries[conversation_id]
        return last

    async def online(self, conversation_id: str) -> list[str]:
        return sorted({_user_of(m) for m in self._live(conversation_id)})

    async def refresh(self, entries: Iterable[tuple[str, str, str]]) -> None:
        expiry = time.time() + self._ttl_s
        for conversation_id, user_id, sid in entries:
            self._entries.setdefault(conversation_id, {})[_member(user_id, sid)] = expiry


class RedisPresence:
    def __init__(self, redis: Redis, *, ttl_s: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s

    @staticmethod
    def key(conversation_id: str) -> str:
        return f"{_KEY_PREFIX}{conversation_id}"

    async def _members_after(self, key: str, change: str, member: str) -> tuple[int, list[str]]:
        """Applies one change; returns how many it changed and the live members (one trip)."""
        now = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            if change == "add":
                pipe.zadd(key, {member: now + self._ttl_s})
            else:
                pipe.zrem(key, member)
            pipe.zrange(key, 0, -1)
            pipe.expire(key, self._ttl_s * 2)
            results = await pipe.execute()
        return int(results[1]), [m.decode() if isinstance(m, bytes) else m for m in results[2]]

    async def add(self, conversation_id: str, user_id: str, sid: str) -> bool:
        member = _member(user_id, sid)
        _, members = await self._members_after(self.key(conversation_id), "add", member)
        return not any(_user_of(m) == user_id and m != member for m in members)

    async def remove(self, conversation_id: str, user_id: str, sid: str) -> bool:
        removed, members = await self._members_after(
            self.key(conversation_id), "remove", _member(user_id, sid)
        )
        return bool(removed) and not any(_user_of(m) == user_id for m in members)

    async def remove_user(self, conversation_id: str, user_id: str) -> int:
        """Forgets every socket of one user in the conversation (an erased account); returns
        how many entries went. Members are "<user>|<sid>", so the user's are named exactly."""
        key = self.key(conversation_id)
        members: Any = await self._redis.zrange(key, 0, -1)
        mine = [m for m in members if _user_of(_text(m)) == user_id]
        return int(await self._redis.zrem(key, *mine)) if mine else 0

    async def online(self, conversation_id: str) -> list[str]:
        members: Any = await self._redis.zrangebyscore(
            self.key(conversation_id), time.time(), "+inf"
        )
        return sorted({_user_of(m.decode() if isinstance(m, bytes) else m) for m in members})

    async def refresh(self, entries: Iterable[tuple[str, str, str]]) -> None:
        expiry = time.time() + self._ttl_s
        async with self._redis.pipeline(transaction=False) as pipe:
            count = 0
            for conversation_id, user_id, sid in entries:
                key = self.key(conversation_id)
                pipe.zadd(key, {_member(user_id, sid): expiry})
                pipe.expire(key, self._ttl_s * 2)
                count += 1
            if count:
                await pipe.execute()
