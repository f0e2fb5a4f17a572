"""Streaks in the learner's IANA time zone: the rules on their own, then against the database
(midnight in two zones, a freeze, a reset, milestones once per run, a time-zone change)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

from models import StreakState, User
from server.progress import streaks
from tests.progress.helpers import events_of, learner, progress_of, service

KOLKATA, LOS_ANGELES = "Asia/Kolkata", "America/Los_Angeles"


def _state(last: str | None, current: int, freezes: int = 0, **extra: Any) -> StreakState:
    return StreakState(
        current=current,
        longest=current,
        last_active_day=last,
        started_day=last,
        freezes=freezes,
        **extra,
    )


AT = datetime(2026, 5, 10, 12, tzinfo=UTC)


def test_step_rules() -> None:
    day = date(2026, 5, 10)
    first = streaks.step(_state(None, 0), day=day, timezone="UTC", at=AT)
    assert first is not None and (first.kind, first.current, first.started_day) == ("start", 1, day)
    assert streaks.step(_state("2026-05-10", 4), day=day, timezone="UTC", at=AT) is None
    assert streaks.step(_state("2026-05-11", 4), day=day, timezone="UTC", at=AT) is None
    nxt = streaks.step(_state("2026-05-09", 4), day=day, timezone="UTC", at=AT)
    assert nxt is not None and (nxt.kind, nxt.current, nxt.freezes) == ("next_day", 5, 0)
    frozen = streaks.step(_state("2026-05-08", 4, freezes=2), day=day, timezone="UTC", at=AT)
    assert frozen is not None and (frozen.kind, frozen.current, frozen.freezes) == ("freeze", 5, 1)
    gap = streaks.step(_state("2026-05-08", 4), day=day, timezone="UTC", at=AT)
    assert gap is not None and (gap.kind, gap.current, gap.started_day) == ("restart", 1, day)
    long_gap = streaks.step(_state("2026-05-07", 4, freezes=2), day=day, timezone="UTC", at=AT)
    assert long_gap is not None and (long_gap.kind, long_gap.freezes) == ("restart", 2)


def test_freezes_are_earned_every_seven_days_up_to_two() -> None:
    day = date(2026, 5, 10)
    seventh = streaks.step(_state("2026-05-09", 6), day=day, timezone="UTC", at=AT)
    assert seventh is not None and seventh.freezes == 1 and seventh.milestone_xp == 25
    full = streaks.step(_state("2026-05-09", 13, freezes=2), day=day, timezone="UTC", at=AT)
    assert full is not None and full.freezes == 2 and full.milestone_xp == 0


def test_the_shown_streak_lapses_when_it_can_no_longer_continue() -> None:
    state = _state("2026-05-08", 5)
    assert streaks.shown_current(state, today=date(2026, 5, 9), timezone="UTC", at=AT) == 5
    assert streaks.shown_current(state, today=date(2026, 5, 10), timezone="UTC", at=AT) == 0
    held = _state("2026-05-08", 5, freezes=1)
    assert streaks.shown_current(held, today=date(2026, 5, 10), timezone="UTC", at=AT) == 5
    assert streaks.shown_current(held, today=date(2026, 5, 11), timezone="UTC", at=AT) == 0


async def test_midnight_falls_differently_in_two_time_zones(app: Any) -> None:
    """At 20:00 UTC on Sunday 1 March it is already Monday 01:30 in Kolkata, and still Sunday
    noon in Los Angeles: one learner's streak grows, the other's does not."""
    india, california = await learner(KOLKATA), await learner(LOS_ANGELES)
    progress = service()
    earlier = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # Kolkata 22:30, Los Angeles 09:00
    later = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    for user in (india, california):
        await progress.record_activity(user=user, at=earlier)
        await progress.record_activity(user=user, at=later)
        await progress.award(user=user, amount=5, source="test", source_id="late", at=later)
    india_state, california_state = (await progress_of(india)), (await progress_of(california))
    assert (india_state.streak.current, india_state.streak.last_active_day) == (2, "2026-03-02")
    assert (california_state.streak.current, california_state.streak.last_active_day) == (
        1,
        "2026-03-01",
    )
    # The ledger keeps the local day (and ISO week) of the award, fixed at award time.
    (india_event,) = await events_of(india, "test")
    (california_event,) = await events_of(california, "test")
    assert (india_event.local_day, india_event.week) == ("2026-03-02", "2026-W10")
    assert (california_event.local_day, california_event.week) == ("2026-03-01", "2026-W09")
    shown = await progress.summary_for(user=india, now=later)
    assert shown.xp_this_week == 5 and shown.streak.current == 2


async def test_a_freeze_covers_one_missed_day_and_a_longer_gap_resets(app: Any) -> None:
    user = await learner("UTC")
    progress = service()
    first = datetime(2026, 6, 1, 9, tzinfo=UTC)

    async def active(day: int, times: int = 1) -> None:
        at = first + timedelta(days=day - 1)
        await asyncio.gather(*[progress.record_activity(user=user, at=at) for _ in range(times)])

    await active(1)
    await active(2, times=10)  # concurrent activity on one day counts that day once
    assert (await progress_of(user)).streak.current == 2
    for day in range(3, 8):
        await active(day)
    week = (await progress_of(user)).streak
    assert (week.current, week.freezes, week.started_day) == (7, 1, "2026-06-01")
    await active(9)  # day 8 missed: the freeze covers it
    frozen = (await progress_of(user)).streak
    assert (frozen.current, frozen.freezes, frozen.last_active_day) == (8, 0, "2026-06-09")
    await active(12)  # days 10 and 11 missed, no freeze left
    reset = (await progress_of(user)).streak
    assert (reset.current, reset.longest, reset.started_day) == (1, 8, "2026-06-12")
    await active(13)
    await active(14)
    milestones = sorted(e.source_id for e in await events_of(user, "streak_milestone"))
    # Once per run: the 3-day milestone again in the new run, the 7-day one once.
    assert milestones == ["2026-06-01:3", "2026-06-01:7", "2026-06-12:3"]
    assert (await progress_of(user)).xp_total == 10 + 25 + 10


async def _moved(user: User, timezone: str) -> User:
    user.profile.timezone = timezone
    await user.save()
    return user


async def test_flying_east_forgives_one_lost_local_day(app: Any) -> None:
    """20:00 on 10 Nov in Los Angeles, then (a 20-hour trip later) 06:00 on 12 Nov in Kolkata:
    11 Nov never happened for the learner, and the streak goes on without spending a freeze."""
    user = await learner(LOS_ANGELES)
    progress = service()
    await progress.record_activity(user=user, at=datetime(2026, 11, 11, 4, 0, tzinfo=UTC))
    await _moved(user, KOLKATA)
    await progress.record_activity(user=user, at=datetime(2026, 11, 12, 0, 30, tzinfo=UTC))
    streak = (await progress_of(user)).streak
    assert (streak.current, streak.freezes, streak.last_active_day) == (2, 0, "2026-11-12")
    assert streak.timezone == KOLKATA


async def test_the_same_gap_without_a_zone_change_or_after_48_hours_resets(app: Any) -> None:
    stayed = await learner(LOS_ANGELES)
    progress = service()
    await progress.record_activity(user=stayed, at=datetime(2026, 11, 11, 4, 0, tzinfo=UTC))
    await progress.record_activity(user=stayed, at=datetime(2026, 11, 12, 9, 0, tzinfo=UTC))
    assert (await progress_of(stayed)).streak.current == 1  # 10 Nov, then 12 Nov: a gap

    slow = await learner(LOS_ANGELES)
    await progress.record_activity(user=slow, at=datetime(2026, 11, 10, 16, 0, tzinfo=UTC))
    await _moved(slow, KOLKATA)
    # 49 hours later: 12 Nov 22:30 in Kolkata, too late for the leniency.
    await progress.record_activity(user=slow, at=datetime(2026, 11, 12, 17, 0, tzinfo=UTC))
    assert (await progress_of(slow)).streak.current == 1


async def test_flying_west_never_moves_the_streak_back(app: Any) -> None:
    user = await learner(KOLKATA)
    progress = service()
    await progress.record_activity(user=user, at=datetime(2026, 11, 10, 20, 30, tzinfo=UTC))
    await _moved(user, LOS_ANGELES)  # 11 Nov 02:00 in Kolkata, then 10 Nov 17:00 in LA
    await progress.record_activity(user=user, at=datetime(2026, 11, 11, 1, 0, tzinfo=UTC))
    streak = (await progress_of(user)).streak
    assert (streak.current, streak.last_active_day) == (1, "2026-11-11")
    await progress.record_activity(user=user, at=datetime(2026, 11, 12, 18, 0, tzinfo=UTC))
    assert (await progress_of(user)).streak.current == 2  # 12 Nov in Los Angeles
