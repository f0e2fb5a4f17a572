from __future__ import annotations

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

from models.common import utcnow


class ProviderUsage(BaseModel):
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class AiUsageDay(Document):
    """AI spend of one learner on one local day: the daily budget reads it, `$inc` writes it."""

    user_id: PydanticObjectId
    org_id: PydanticObjectId
    day: str  # the learner's local calendar day, YYYY-MM-DD
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    providers: dict[str, ProviderUsage] = Field(default_factory=dict)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "ai_usage_days"
        indexes = [
            IndexModel([("user_id", ASCENDING), ("day", ASCENDING)], unique=True, name="user_day"),
            # Serves per-organization usage reports by day.
            IndexModel([("org_id", ASCENDING), ("day", ASCENDING)], name="org_day"),
            # The deployment-wide usage report: a range of days across organizations.
            IndexModel([("day", ASCENDING)], name="day"),
        ]
