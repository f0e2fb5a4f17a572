"""Login sessions: how one ends, and how every instance knows at once that it has.

A session is a refresh-token family: a login starts one (`RefreshToken.family_id`), its refresh
tokens rotate within it, and every access token it issues carries its id as the `fid` claim.
Ending a session (logout, refresh-token reuse, disabling, erasure, a password change or
reset) does three things, in this order:
1. revokes its refresh tokens in MongoDB, the durable truth: no new access token can be issued;
2. marks the family ended in a keyspace every authentication reads (`authenticate` in
   `server.deps`, shared by REST and the socket gateway): Redis keys
   `starguide:session:ended:<fid>`, or process memory without `REDIS_URL` (one process then).
   A mark lives as long as an access token (plus a minute of slack), since by then every
   access token of the session has expired by itself;
3. disconnects the session's sockets on every instance (the control channel).
Redis errors propagate (the app answers 503): a logout must not report success while the
session's access tokens still work.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, Protocol

from beanie import PydanticObjectId
from redis.asyncio import Redis

from models import RefreshToken
from server.cluster import Cluster
from server.errors import Unauthorized

ENDED_PREFIX = "starguide:session:ended:"
# The control message that ends sockets (the gateway subscribes to it on every instance).
DISCONNECT_USER = "disconnect_user"
_SLACK_SECONDS = 60  # `exp` is rounded to the second, and clocks of instances drift a little


class EndedSessions:
    """Which session families ended within the last access-token lifetime."""

    def __init__(self, redis: Redis | None, *, access_ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = access_ttl_seconds + _SLACK_SECONDS
        # Insertion order is expiry order (one TTL for all), so lapsed marks are at the front.
        self._memory: OrderedDict[str, float] = OrderedDict()

    async def add(self, family_ids: Collection[str]) -> None:
        if not family_ids:
            return
        if self._redis is not None:
            async with self._redis.pipeline(transaction=False) as pipe:
                for family_id in family_ids:
                    pipe.set(ENDED_PREFIX + family_id, b"1", ex=self._ttl)
                await pipe.execute()
            return
        now = time.monotonic()
        for family_id in family_ids:
            self._memory[family_id] = now + self._ttl
            self._memory.move_to_end(family_id)
        while self._memory and next(iter(self._memory.values())) <= now:
            self._memory.popitem(last=False)

    async def contains(self, family_id: str) -> bool:
        if self._redis is not None:
            return bool(await self._redis.exists(ENDED_PREFIX + family_id))
        until = self._memory.get(family_id)
        return until is not None and until > time.monotonic()


class SessionState(Protocol):
    """What ending sessions needs of the app state (`server.state.AppState` has both). Typed
    by shape: the state holds an `EndedSessions`, so importing the state here, even for
    annotations only, would be an import circle."""

    @property
    def ended_sessions(self) -> EndedSessions: ...

    @property
    def cluster(self) -> Cluster: ...


def revoked() -> Unauthorized:
    return Unauthorized("This session has ended; log in again.", code="session_revoked")


async def is_ended(state: SessionState, *, family_id: str) -> bool:
    return await state.ended_sessions.contains(family_id)


async def ensure_live(state: SessionState, claims: dict[str, Any]) -> None:
    """Refuses (401 `session_revoked`) an access token whose session ended. A token without
    `fid` predates sessions: none is issued any more, and it expires like any other."""
    family_id = claims.get("fid")
    if family_id is None:
        return
    if not isinstance(family_id, str) or not family_id:
        raise Unauthorized("The token is invalid.", code="invalid_token")
    if await is_ended(state, family_id=family_id):
        raise revoked()


async def end_session(
    state: SessionState, *, user_id: PydanticObjectId, family_id: str, reason: str = "logged_out"
) -> None:
    """Ends one login session (logout, refresh-token reuse). Safe to repeat."""
    await RefreshToken.find(
        RefreshToken.family_id == family_id,
        RefreshToken.revoked_at == None,  # noqa: E711
    ).update({"$set": {"revoked_at": datetime.now(UTC)}})
    await state.ended_sessions.add([family_id])
    await end_sockets(state, user_id=user_id, family_id=family_id, reason=reason)


async def end_all_sessions(
    state: SessionState,
    *,
    user_id: PydanticObjectId,
    reason: str = "revoked",
    keep_family: str | None = None,
) -> None:
    """Ends every session of a user (disabling, erasure, a password change or reset), except
    `keep_family` (the session that changed the password keeps going).

    Refresh tokens are revoked first and the families read after: a session whose token is
    being rotated meanwhile is caught either way (its new token is revoked here, or the
    rotation sees the revocation and refuses, see `service.refresh`)."""
    scope: dict[str, Any] = {"user_id": user_id}
    if keep_family is not None:
        scope["family_id"] = {"$ne": keep_family}
    collection = RefreshToken.get_pymongo_collection()
    await collection.update_many(
        {**scope, "revoked_at": None}, {"$set": {"revoked_at": datetime.now(UTC)}}
    )
    families = [str(f) for f in await collection.distinct("family_id", scope)]
    await state.ended_sessions.add(families)
    if keep_family is None:
        await end_sockets(state, user_id=user_id, reason=reason)
        return
    for family_id in families:
        await end_sockets(state, user_id=user_id, family_id=family_id, reason=reason)


async def store_refresh_token(
    *, token_hash: str, family_id: str, user_id: PydanticObjectId, expires_at: datetime
) -> None:
    """Stores a newly issued refresh token of the session `family_id` (its hash only)."""
    await RefreshToken(
        token_hash=token_hash, family_id=family_id, user_id=user_id, expires_at=expires_at
    ).insert()


async def find_refresh_token(*, token_hash: str) -> RefreshToken | None:
    return await RefreshToken.find_one({"token_hash": token_hash})


async def spend_refresh_token(*, token_hash: str, now: datetime) -> bool:
    """Marks a live, unused, unexpired token used. One conditional update: of two concurrent
    refreshes exactly one gets True."""
    spent = await RefreshToken.get_pymongo_collection().update_one(
        {"token_hash": token_hash, "used_at": None, "revoked_at": None, "expires_at": {"$gt": now}},
        {"$set": {"used_at": now}},
    )
    return spent.modified_count == 1


async def revoke_token(*, token_hash: str) -> None:
    """Revokes one token (a rotation that lost the race with its session's end)."""
    await RefreshToken.get_pymongo_collection().update_one(
        {"token_hash": token_hash}, {"$set": {"revoked_at": datetime.now(UTC)}}
    )


async def family_was_revoked(*, family_id: str) -> bool:
    """Whether any token of the family is revoked: the session ended, whatever rotated since."""
    found = await RefreshToken.get_pymongo_collection().find_one(
        {"family_id": family_id, "revoked_at": {"$ne": None}}, {"_id": 1}
    )
    return found is not None


async def end_sockets(
    state: SessionState,
    *,
    user_id: PydanticObjectId,
    family_id: str | None = None,
    reason: str = "revoked",
) -> None:
    """Disconnects the user's sockets on every instance: one login session's, or all of them."""
    await state.cluster.publish(
        DISCONNECT_USER, {"user_id": str(user_id), "family_id": family_id, "reason": reason}
    )
