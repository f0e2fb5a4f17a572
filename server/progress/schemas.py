"""API shapes of progress and achievements: the contract's `achievements`, and progress' part
of its `progress` (the whole dashboard shape is `server.dashboards.schemas.ProgressPublic`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from models import AchievementCriteria
from models.achievement import Tier


class StreakPublic(BaseModel):
    current: int = Field(description="Days in a row, 0 once it can no longer be continued today.")
    longest: int
    last_active_day: str | None = Field(description="Last counted local day, YYYY-MM-DD.")
    freezes: int = Field(description="Freezes held; one covers one missed day.")


class DailyGoalPublic(BaseModel):
    target_xp: int
    xp_today: int = Field(description="XP toward the goal on the learner's local day.")
    met: bool


class ProgressSummary(BaseModel):
    """What the progress feature itself knows about a learner."""

    xp: int = Field(description="Total XP.")
    level: int
    level_xp: int = Field(description="Total XP at which the current level began.")
    next_level_xp: int = Field(description="Total XP at which the next level begins.")
    xp_this_week: int = Field(description="XP in the current ISO week of the local calendar.")
    streak: StreakPublic
    daily_goal: DailyGoalPublic


class AchievementPublic(BaseModel):
    code: str
    name: str
    description: str
    tier: Tier
    xp_reward: int
    criteria: AchievementCriteria
    image: str
    earned_at: datetime | None = Field(description="When the caller earned it, else null.")


class AchievementList(BaseModel):
    items: list[AchievementPublic]
