from __future__ import annotations

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.common import utcnow


class XpEvent(Document):
    """One line of the XP ledger: the source of truth that `Progress` totals summarise.

    The unique (user_id, source, source_id) key is the award's idempotency key: inserting the
    event first and treating a duplicate key as "already awarded" makes every award exactly-once
    without reading anything. `local_day` and `week` are fixed at award time in the learner's
    time zone, so a later time-zone change never moves XP between days or weeks.
    """

    user_id: PydanticObjectId
    org_id: PydanticObjectId
    amount: int
    source: str  # chat, daily_goal, streak_milestone, achievement (quiz next)
    source_id: str
    local_day: str  # YYYY-MM-DD in the learner's IANA time zone at award time
    week: str  # ISO week of local_day, e.g. 2026-W47
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "xp_events"
        indexes = [
            IndexModel(
                [("user_id", ASCENDING), ("source", ASCENDING), ("source_id", ASCENDING)],
                unique=True,
                name="award_key_unique",
            ),
            # Serves a learner's ledger by day (totals rebuilt from the ledger, daily history).
            IndexModel([("user_id", ASCENDING), ("local_day", ASCENDING)], name="user_day"),
            # Serves the weekly leaderboards' aggregation and their rebuild from the ledger.
            IndexModel(
                [("org_id", ASCENDING), ("week", ASCENDING), ("user_id", ASCENDING)],
                name="org_week_user",
            ),
        ]
