"""Weekly leaderboards: a Redis sorted set per organization and week, rebuildable from the ledger.

Every award reports the learner's new weekly total, which the progress service's atomic `$inc`
just returned, and the board takes it with `ZADD GT`: a score only ever rises to the newest
total. Totals only grow, so updates commute: concurrent awards, a late or repeated update and a
rebuild from the ledger running at the same time all converge on the exact total, with no
read-modify-write and no lost increment. A study group's board is its members' scores on their
organization's board (`ZMSCORE`), so an award writes one key however many groups the learner is
in. Without Redis, or when Redis fails, the ledger's weekly totals answer (read through the
progress service, which owns `xp_events`). The progress service reaches these boards only
through its `WeeklyBoard` protocol, so the dependency runs one way: leaderboard → progress.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from beanie import PydanticObjectId
from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.progress import service as progress_service

log = logging.getLogger("starguide.leaderboard")

KEY_PREFIX: Final = "starguide:lb"
# A board outlives its week long enough to show last week's final standings.
BOARD_TTL_SECONDS: Final = 15 * 86_400


@dataclass(frozen=True, slots=True)
class Standing:
    user_id: str
    xp: int
    rank: int


@dataclass(frozen=True, slots=True)
class Board:
    week: str
    items: list[Standing]
    me: Standing


def board_key(org_id: PydanticObjectId | str, week: str) -> str:
    return f"{KEY_PREFIX}:org:{org_id}:{week}"


def _ranked(scores: Iterable[tuple[str, int]]) -> list[Standing]:
    """Competition ranking ("1224"): equal XP, equal rank. Ties are listed by user id
    descending, the order Redis gives equal scores, so both backends agree."""
    ordered = sorted(scores, key=lambda item: (item[1], item[0]), reverse=True)
    standings: list[Standing] = []
    for position, (user_id, xp) in enumerate(ordered, start=1):
        same = standings and standings[-1].xp == xp
        standings.append(Standing(user_id, xp, standings[-1].rank if same else position))
    return standings


class Leaderboards:
    def __init__(self, redis: Redis | None) -> None:
        self._redis = redis
        self._failing = False

    # ---- writes -------------------------------------------------------------------------
    async def record(
        self, *, org_id: PydanticObjectId, user_id: PydanticObjectId, week: str, week_xp: int
    ) -> None:
        """Called after every award with the learner's weekly total as written. A failure is
        logged, never raised: the ledger has the award, and the learner's next award (or a
        rebuild) brings the board up to date."""
        if self._redis is None:
            return
        key = board_key(org_id, week)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(key, {str(user_id): week_xp}, gt=True)
                pipe.expire(key, BOARD_TTL_SECONDS)
                await pipe.execute()
        except RedisError:
            self._log_failure("recording an award on the leaderboard failed")
        else:
            self._failing = False

    async def rebuild(self, *, org_id: PydanticObjectId, week: str) -> int:
        """Loads the week's totals from the ledger into the board (`ZADD GT`, so it is safe
        while awards go on) and marks it complete. Returns the number of learners."""
        assert self._redis is not None
        totals = await progress_service.weekly_totals(org_id=org_id, week=week)
        key = board_key(org_id, week)
        async with self._redis.pipeline(transaction=False) as pipe:
            if totals:
                pipe.zadd(key, dict(totals), gt=True)
            pipe.expire(key, BOARD_TTL_SECONDS)
            # The marker dies no later than the board: a present marker means a full board.
            pipe.set(f"{key}:built", 1, ex=BOARD_TTL_SECONDS)
            await pipe.execute()
        return len(totals)

    async def forget_user(
        self, *, user_id: PydanticObjectId, boards: Iterable[tuple[PydanticObjectId, str]]
    ) -> int:
        """Removes an erased learner from the given (organization, week) boards; returns the
        entries removed. Call it after their ledger is gone: a board marked `:built` then
        still equals the ledger's totals, so the marker stays true. Errors are raised (the
        erasure reports them), unlike `record`."""
        if self._redis is None:
            return 0
        keys = sorted({board_key(org_id, week) for org_id, week in boards})
        if not keys:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrem(key, str(user_id))
            removed = await pipe.execute()
        return sum(int(n) for n in removed)

    # ---- reads --------------------------------------------------------------------------
    async def org_board(
        self, *, org_id: PydanticObjectId, week: str, me: PydanticObjectId, limit: int
    ) -> Board:
        if self._redis is not None:
            try:
                return await self._org_board_redis(org_id, week, str(me), limit)
            except RedisError:
                self._log_failure("the leaderboard fell back to MongoDB: Redis failed")
        totals = await progress_service.weekly_totals(org_id=org_id, week=week)
        return self._board(week, totals, str(me), limit)

    async def group_board(
        self,
        *,
        org_id: PydanticObjectId,
        members: Sequence[PydanticObjectId],
        week: str,
        me: PydanticObjectId,
        limit: int,
    ) -> Board:
        """Every member is listed, with 0 XP too: a group is small and its board is a roll."""
        ids = [str(m) for m in members]
        totals: list[tuple[str, int]] | None = None
        if self._redis is not None:
            try:
                key = await self._ready_key(org_id, week)
                scores = await self._redis.zmscore(key, ids) if ids else []
                totals = [(u, int(s or 0)) for u, s in zip(ids, scores, strict=True)]
            except RedisError:
                self._log_failure("the leaderboard fell back to MongoDB: Redis failed")
        if totals is None:
            found = dict(
                await progress_service.weekly_totals(org_id=org_id, week=week, user_ids=members)
            )
            totals = [(u, found.get(u, 0)) for u in ids]
        return self._board(week, totals, str(me), limit)

    # ---- internals ----------------------------------------------------------------------
    async def _ready_key(self, org_id: PydanticObjectId, week: str) -> str:
        assert self._redis is not None
        key = board_key(org_id, week)
        if not await self._redis.exists(f"{key}:built"):
            await self.rebuild(org_id=org_id, week=week)
        return key

    async def _org_board_redis(
        self, org_id: PydanticObjectId, week: str, me: str, limit: int
    ) -> Board:
        assert self._redis is not None
        key = await self._ready_key(org_id, week)
        top: Any = await self._redis.zrange(key, 0, limit - 1, desc=True, withscores=True)
        standings = _ranked((_text(member), int(score)) for member, score in top)
        mine = next((s for s in standings if s.user_id == me), None)
        if mine is None:
            score = await self._redis.zscore(key, me)
            xp = int(score or 0)
            # Everyone strictly ahead, plus one; learners without XP this week tie last.
            ahead = await self._redis.zcount(key, f"({xp}", "+inf")
            mine = Standing(me, xp, int(ahead) + 1)
        return Board(week, standings, mine)

    @staticmethod
    def _board(week: str, totals: Sequence[tuple[str, int]], me: str, limit: int) -> Board:
        standings = _ranked(totals)
        mine = next((s for s in standings if s.user_id == me), None)
        if mine is None:
            ahead = sum(1 for s in standings if s.xp > 0)
            mine = Standing(me, 0, ahead + 1)
        return Board(week, standings[:limit], mine)

    def _log_failure(self, message: str) -> None:
        # One line per outage, not one per award.
        if not self._failing:
            log.warning(message, exc_info=True)
        self._failing = True


def _text(member: Any) -> str:
    return member.decode() if isinstance(member, bytes) else str(member)
