"""XP awards against the real database: exactly once per key, exact totals under concurrency,
the chat cap per local day, the daily goal once per day, notifications after the write."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from models import XpEvent
from server.events import ServerEvent
from tests.progress.helpers import Recorder, events_of, learner, progress_of, service

NOON = datetime(2026, 3, 4, 6, 30, tzinfo=UTC)  # 12:00 in Asia/Kolkata, a Wednesday


async def test_indexes_make_awards_and_unlocks_race_free(app: Any) -> None:
    from models import Achievement, Progress, UserAchievement

    xp = await XpEvent.get_pymongo_collection().index_information()
    assert xp["award_key_unique"]["unique"] is True
    assert xp["award_key_unique"]["key"] == [("user_id", 1), ("source", 1), ("source_id", 1)]
    assert "user_day" in xp
    progress = await Progress.get_pymongo_collection().index_information()
    assert progress["user_unique"]["unique"] is True
    earned = await UserAchievement.get_pymongo_collection().index_information()
    assert earned["user_code_unique"]["unique"] is True
    catalog = await Achievement.get_pymongo_collection().index_information()
    assert catalog["code_unique"]["unique"] is True


async def test_one_key_awarded_by_100_concurrent_calls_counts_once(app: Any) -> None:
    user = await learner()
    recorder = Recorder()
    progress = service(notifier=recorder)
    results = await asyncio.gather(
        *[
            progress.award(user=user, amount=7, source="test", source_id="same", at=NOON)
            for _ in range(100)
        ]
    )
    assert sum(r is not None for r in results) == 1
    assert len(await events_of(user)) == 1
    stored = await progress_of(user)
    assert stored.xp_total == 7 and stored.xp_by_week == {"2026-W10": 7}
    assert [e["amount"] for e in recorder.named("xp:gained")] == [7]


async def test_100_distinct_concurrent_awards_give_the_exact_total(app: Any) -> None:
    user = await learner()
    recorder = Recorder()
    progress = service(notifier=recorder)
    results = await asyncio.gather(
        *[
            progress.award(user=user, amount=n, source="test", source_id=f"k{n}", at=NOON)
            for n in range(1, 101)
        ]
    )
    assert all(r is not None for r in results)
    stored = await progress_of(user)
    assert user.id is not None
    assert stored.xp_total == 5050 == await progress.ledger_total(user_id=user.id)
    assert stored.xp_by_week == {"2026-W10": 5050}
    assert stored.days["2026-03-04"].xp == 5050
    assert len(recorder.named("xp:gained")) == 100
    assert max(e["xp_total"] for e in recorder.named("xp:gained")) == 5050
    # The level in the notification follows the curve (5050 XP: level 10 starts at 4500).
    assert {e["level"] for e in recorder.named("xp:gained") if e["xp_total"] == 5050} == {10}


async def test_chat_xp_stops_at_the_daily_cap_under_concurrent_messages(app: Any) -> None:
    user = await learner()
    progress = service(chat_xp_daily_messages=5, daily_goal_xp=1000)
    await asyncio.gather(*[progress.record_chat_message(user=user, at=NOON) for _ in range(12)])
    chat = await events_of(user, "chat")
    assert sorted(e.source_id for e in chat) == [f"2026-03-04:{n}" for n in range(1, 6)]
    assert {e.amount for e in chat} == {2}
    stored = await progress_of(user)
    assert stored.xp_total == 10
    assert stored.chat_messages == 12 and stored.days["2026-03-04"].messages == 12
    # The cap is per local day: the next day earns again.
    await progress.record_chat_message(user=user, at=NOON + timedelta(days=1))
    assert (await progress_of(user)).xp_total == 12
    assert len(await events_of(user, "chat")) == 6


async def test_the_daily_goal_is_awarded_once_per_local_day(app: Any) -> None:
    user = await learner()
    recorder = Recorder()
    progress = service(notifier=recorder, daily_goal_xp=4)
    await asyncio.gather(*[progress.record_chat_message(user=user, at=NOON) for _ in range(6)])
    goals = await events_of(user, "daily_goal")
    assert [(e.source_id, e.amount) for e in goals] == [("2026-03-04", 10)]
    stored = await progress_of(user)
    assert stored.daily_goals == 1 and stored.days["2026-03-04"].goal_met
    assert stored.days["2026-03-04"].goal_xp == 12  # rewards do not count toward the goal
    assert stored.xp_total == 12 + 10
    assert [e["source"] for e in recorder.named("xp:gained")].count("daily_goal") == 1
    public = await progress.summary_for(user=user, now=NOON)
    assert public.daily_goal.met and public.daily_goal.xp_today == 12
    assert public.daily_goal.target_xp == 4


async def test_a_failing_notifier_never_undoes_an_award(app: Any) -> None:
    class Broken:
        async def to_user(self, user_id: str, event: ServerEvent) -> None:
            raise RuntimeError("socket layer down")

    user = await learner()
    progress = service()
    progress._notifier = Broken()
    assert await progress.award(user=user, amount=3, source="test", source_id="x", at=NOON)
    assert (await progress_of(user)).xp_total == 3
