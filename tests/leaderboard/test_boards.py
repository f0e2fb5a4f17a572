"""The weekly boards against the real database and a real redis-server: ranks with ties, the
caller's own rank, the two backends agreeing, and rebuilds racing awards without losing XP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from beanie import PydanticObjectId
from redis.asyncio import Redis

from models import User
from server.leaderboard.service import Board, Leaderboards, board_key
from server.progress.service import ProgressService
from tests.conftest import free_port
from tests.progress.helpers import learner, service

NOON = datetime(2026, 3, 4, 6, 30, tzinfo=UTC)  # a Wednesday of 2026-W10 in Asia/Kolkata
WEEK = "2026-W10"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _org_learners(count: int) -> list[User]:
    org = PydanticObjectId()
    users = []
    for _ in range(count):
        user = await learner()
        user.org_id = org
        await user.save()
        users.append(user)
    return users


async def _award(progress: ProgressService, user: User, *amounts: int) -> None:
    for n, amount in enumerate(amounts):
        await progress.award(user=user, amount=amount, source="test", source_id=f"a{n}", at=NOON)


def _rows(board: Board) -> list[tuple[int, str, int]]:
    return [(s.rank, s.user_id, s.xp) for s in board.items]


@pytest.mark.parametrize("backend", ["redis", "mongodb"])
async def test_ranks_share_ties_and_the_caller_always_has_a_rank(
    app: Any, redis: Redis, backend: str
) -> None:
    boards = Leaderboards(redis if backend == "redis" else None)
    progress = service()
    progress._leaderboards = boards
    top, tie_a, tie_b, low, idle = await _org_learners(5)
    await _award(progress, top, 20, 10)
    await _award(progress, tie_a, 15, 5)
    await _award(progress, tie_b, 20)
    await _award(progress, low, 3)
    stranger = await learner()  # another organization
    await _award(progress, stranger, 500)
    assert top.id and tie_a.id and tie_b.id and low.id and idle.id

    board = await boards.org_board(org_id=top.org_id, week=WEEK, me=low.id, limit=10)
    ties = sorted([str(tie_a.id), str(tie_b.id)], reverse=True)
    assert _rows(board) == [
        (1, str(top.id), 30),
        (2, ties[0], 20),
        (2, ties[1], 20),
        (4, str(low.id), 3),
    ]
    assert (board.me.rank, board.me.xp) == (4, 3)
    # Outside the listed top, and without any XP this week: still ranked.
    short = await boards.org_board(org_id=top.org_id, week=WEEK, me=low.id, limit=2)
    assert [s.rank for s in short.items] == [1, 2] and (short.me.rank, short.me.xp) == (4, 3)
    idle_view = await boards.org_board(org_id=top.org_id, week=WEEK, me=idle.id, limit=2)
    assert (idle_view.me.rank, idle_view.me.xp) == (5, 0)
    # Another week is another board.
    empty = await boards.org_board(org_id=top.org_id, week="2026-W11", me=top.id, limit=10)
    assert empty.items == [] and (empty.me.rank, empty.me.xp) == (1, 0)

    group = await boards.group_board(
        org_id=top.org_id, members=[idle.id, low.id, tie_a.id], week=WEEK, me=idle.id, limit=10
    )
    assert _rows(group) == [(1, str(tie_a.id), 20), (2, str(low.id), 3), (3, str(idle.id), 0)]
    assert (group.me.rank, group.me.xp) == (3, 0)


async def test_a_lost_board_is_rebuilt_from_the_ledger(app: Any, redis: Redis) -> None:
    boards = Leaderboards(redis)
    progress = service()
    progress._leaderboards = boards
    first, second = await _org_learners(2)
    assert first.id and second.id
    await _award(progress, first, 4, 4)
    await _award(progress, second, 9)
    before = _rows(await boards.org_board(org_id=first.org_id, week=WEEK, me=first.id, limit=5))
    key = board_key(first.org_id, WEEK)
    await redis.delete(key, f"{key}:built")  # e.g. Redis restarted without persistence
    after = await boards.org_board(org_id=first.org_id, week=WEEK, me=first.id, limit=5)
    assert _rows(after) == before == [(1, str(second.id), 9), (2, str(first.id), 8)]
    assert await redis.ttl(key) > 14 * 86_400


async def test_awards_racing_a_rebuild_lose_nothing(app: Any, redis: Redis) -> None:
    boards = Leaderboards(redis)
    progress = service()
    progress._leaderboards = boards
    users = await _org_learners(4)
    org = users[0].org_id
    key = board_key(org, WEEK)

    async def rebuilds() -> None:
        for _ in range(5):
            await redis.delete(key)
            await boards.rebuild(org_id=org, week=WEEK)
            await asyncio.sleep(0)

    awards = [
        progress.award(user=u, amount=n, source="race", source_id=f"r{n}", at=NOON)
        for u in users
        for n in range(1, 26)
    ]
    await asyncio.gather(rebuilds(), *awards)
    board = await boards.org_board(org_id=org, week=WEEK, me=users[0].id or org, limit=10)
    assert sorted(s.xp for s in board.items) == [325] * 4  # 1 + 2 + ... + 25 each


async def test_the_board_follows_redis_outages(app: Any, redis: Redis) -> None:
    """Redis down: awards still land and the board answers from MongoDB. Back up: the
    learner's next award brings the board's score up to the exact total again."""
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    failing = Leaderboards(dead)
    progress = service()
    progress._leaderboards = failing
    (user,) = await _org_learners(1)
    assert user.id
    assert await progress.award(user=user, amount=6, source="t", source_id="1", at=NOON)
    board = await failing.org_board(org_id=user.org_id, week=WEEK, me=user.id, limit=5)
    assert _rows(board) == [(1, str(user.id), 6)]
    await dead.aclose()

    healthy = Leaderboards(redis)
    await healthy.rebuild(org_id=user.org_id, week=WEEK)
    progress._leaderboards = healthy
    await progress.award(user=user, amount=1, source="t", source_id="2", at=NOON)
    assert await redis.zscore(board_key(user.org_id, WEEK), str(user.id)) == 7


async def test_events_count_in_the_week_of_their_local_day(app: Any, redis: Redis) -> None:
    boards = Leaderboards(redis)
    progress = service()
    progress._leaderboards = boards
    (user,) = await _org_learners(1)
    assert user.id
    # Sunday 23:30 in Kolkata is still 2026-W09 there, though it is Sunday 18:00 UTC.
    sunday = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    await progress.award(user=user, amount=5, source="t", source_id="sun", at=sunday)
    await progress.award(
        user=user, amount=2, source="t", source_id="mon", at=sunday + timedelta(hours=1)
    )
    for week, xp in (("2026-W09", 5), ("2026-W10", 2)):
        board = await boards.org_board(org_id=user.org_id, week=week, me=user.id, limit=5)
        assert _rows(board) == [(1, str(user.id), xp)]


async def test_a_late_update_or_a_rebuild_never_lowers_a_score(app: Any, redis: Redis) -> None:
    """Awards finish in any order and a rebuild reads the ledger at one moment: the board
    keeps the highest total it has seen, which is the newest (weekly totals only grow)."""
    boards = Leaderboards(redis)
    progress = service()
    progress._leaderboards = boards
    (user,) = await _org_learners(1)
    assert user.id
    await _award(progress, user, 10)
    key = board_key(user.org_id, WEEK)
    await boards.record(org_id=user.org_id, user_id=user.id, week=WEEK, week_xp=4)  # stale
    assert await redis.zscore(key, str(user.id)) == 10
    # An award whose ZADD landed after the rebuild's ledger read (simulated): kept.
    await redis.zadd(key, {str(user.id): 15})
    await boards.rebuild(org_id=user.org_id, week=WEEK)
    assert await redis.zscore(key, str(user.id)) == 15
