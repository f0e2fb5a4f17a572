from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import Document
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

from models.common import utcnow

Tier = Literal["bronze", "silver", "gold", "platinum"]
Metric = Literal[
    "xp_total",
    "level",
    "streak_current",
    "chat_messages",
    "daily_goals",
    "quiz_correct",
    "topics_mastered",
]


class AchievementCriteria(BaseModel):
    """Open Badges 3.0 `criteria`: a human `narrative`, plus the machine rule we evaluate."""

    metric: Metric
    threshold: int
    narrative: str


class Achievement(Document):
    """A catalog entry in the shape of an Open Badges 3.0 Achievement (code is its id)."""

    code: str
    name: str
    description: str
    criteria: AchievementCriteria
    tier: Tier
    xp_reward: int = 0
    image: str  # URL or path of the badge art, resolved by the client
    position: int = 0  # catalog order
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "achievements"
        indexes = [IndexModel([("code", ASCENDING)], unique=True, name="code_unique")]
