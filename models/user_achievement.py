from __future__ import annotations

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.common import utcnow


class UserAchievement(Document):
    """An earned badge. The unique (user_id, code) index decides the one unlock under races."""

    user_id: PydanticObjectId
    org_id: PydanticObjectId | None = None
    code: str
    earned_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "user_achievements"
        indexes = [
            IndexModel(
                [("user_id", ASCENDING), ("code", ASCENDING)], unique=True, name="user_code_unique"
            ),
        ]
