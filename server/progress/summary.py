"""The progress feature's part of a learner's dashboard: XP, level, streak and daily goal,
computed from the stored totals in the learner's local calendar. Read models above the
features (server/dashboards/) add the other features' parts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from models import Progress, User
from server.chat.limits import local_day
from server.progress import levels, streaks
from server.progress.schemas import DailyGoalPublic, ProgressSummary, StreakPublic
from server.progress.weeks import iso_week


async def summaries_of(
    users: Sequence[User], *, now: datetime, daily_goal_xp: int
) -> list[ProgressSummary]:
    """Several learners' summaries (a mentor's group view) with one read of their totals;
    a learner without progress yet gets the zero summary."""
    ids = [u.id for u in users if u.id is not None]
    stored = {p.user_id: p for p in await Progress.find({"user_id": {"$in": ids}}).to_list()}
    views = []
    for user in users:
        assert user.id is not None
        progress = stored.get(user.id) or Progress(user_id=user.id)
        today = local_day(user, now)
        counters = progress.days.get(today.isoformat())
        xp = progress.xp_total
        level = levels.level_for_xp(xp)
        views.append(
            ProgressSummary(
                xp=xp,
                level=level,
                level_xp=levels.xp_for_level(level),
                next_level_xp=levels.xp_for_level(level + 1),
                xp_this_week=progress.xp_by_week.get(iso_week(today), 0),
                streak=StreakPublic(
                    current=streaks.shown_current(
                        progress.streak, today=today, timezone=user.profile.timezone, at=now
                    ),
                    longest=progress.streak.longest,
                    last_active_day=progress.streak.last_active_day,
                    freezes=progress.streak.freezes,
                ),
                daily_goal=DailyGoalPublic(
                    target_xp=daily_goal_xp,
                    xp_today=counters.goal_xp if counters else 0,
                    met=bool(counters and counters.goal_met),
                ),
            )
        )
    return views
