from __future__ import annotations

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow


class SignalCounts(BaseModel):
    """How often each kind of evidence was seen: the "why" behind a weakness score."""

    mention: int = 0
    confusion: int = 0
    repeat: int = 0
    quiz_wrong: int = 0
    quiz_right: int = 0
    declared: int = 0


class LearnerTopic(Document):
    """One learner's memory of one syllabus topic (see docs/LEARNER_MEMORY.md).

    `weight` is the weakness score scaled to a fixed epoch (score x 2^(age/half-life)), so new
    evidence is a plain atomic `$inc` and decay needs no rewrite: score = weight / 2^(t/half-life).
    """

    user_id: PydanticObjectId
    topic_id: str
    name: str
    subject: str
    weight: float = 0.0
    counts: SignalCounts = Field(default_factory=SignalCounts)
    last_reason: str | None = None
    first_seen_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "learner_topics"
        indexes = [
            IndexModel(
                [("user_id", ASCENDING), ("topic_id", ASCENDING)],
                unique=True,
                name="user_topic_unique",
            ),
            # Serves "this learner's weakest topics" (weight orders like the decayed score).
            IndexModel([("user_id", ASCENDING), ("weight", DESCENDING)], name="user_weakest"),
        ]
