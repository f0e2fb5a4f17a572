from __future__ import annotations

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

from models.common import utcnow


class StreakState(BaseModel):
    """The streak as of `last_active_day`; only a conditional update on that field moves it."""

    current: int = 0
    longest: int = 0
    last_active_day: str | None = None  # YYYY-MM-DD, the learner's local day
    started_day: str | None = None  # first day of the current run: milestones are once per run
    freezes: int = 0
    # When and in which zone the streak was last extended: the time-zone leniency rule's inputs.
    last_extended_at: datetime | None = None
    timezone: str | None = None


class DayCounters(BaseModel):
    """One local day's counters, `$inc`ed: the chat cap, the daily goal."""

    messages: int = 0  # learner messages sent
    xp: int = 0  # XP from every source
    goal_xp: int = 0  # XP that counts toward the daily goal (chat, quiz)
    goal_met: bool = False


class Progress(Document):
    """A learner's running totals, kept by atomic `$inc` after each ledger insert.

    `xp_by_week` is keyed by ISO week ("2026-W47"), so "XP this week" is a lookup and needs no
    rollover job. `days` is keyed by local day ("2026-11-20"); days older than a few weeks are
    dropped when the streak moves on. `achievements` mirrors the codes in `user_achievements`
    so that checking for new unlocks costs no extra read.
    """

    user_id: PydanticObjectId
    org_id: PydanticObjectId | None = None
    xp_total: int = 0
    xp_by_week: dict[str, int] = Field(default_factory=dict)
    chat_messages: int = 0
    daily_goals: int = 0
    quiz_correct: int = 0  # right quiz answers that counted (not same-day repeats)
    topics_mastered: int = 0  # topics that have reached "mastered" at least once
    streak: StreakState = Field(default_factory=StreakState)
    days: dict[str, DayCounters] = Field(default_factory=dict)
    achievements: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "progress"
        indexes = [
            IndexModel([("user_id", ASCENDING)], unique=True, name="user_unique"),
        ]
