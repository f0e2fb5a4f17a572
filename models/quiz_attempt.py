from __future__ import annotations

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow
from models.topic_mastery import MasteryLevel


class MasteryPoint(BaseModel):
    points: int
    level: MasteryLevel


class AttemptResult(BaseModel):
    """What answering did, kept so that a retried POST answers exactly like the first one."""

    before: MasteryPoint
    after: MasteryPoint
    counted: bool  # False: the question was answered earlier the same day, mastery unchanged
    next_review_at: datetime
    xp_awarded: int
    xp_total: int
    level: int


class QuizAttempt(Document):
    """One answer to one question: the record of what the learner did, stored before anything
    it causes (mastery, memory, streak, XP), so those can always be traced back to it."""

    user_id: PydanticObjectId
    org_id: PydanticObjectId
    question_id: PydanticObjectId
    topic_id: str
    option: int
    correct: bool
    local_day: str  # YYYY-MM-DD in the learner's time zone: the XP key's day
    client_attempt_id: str | None = None
    result: AttemptResult | None = None  # set once the effects have been applied
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "quiz_attempts"
        indexes = [
            # Serves a learner's history, newest first, and "questions answered lately".
            IndexModel([("user_id", ASCENDING), ("created_at", DESCENDING)], name="user_recent"),
            # Serves "questions of this topic the learner answered lately" (no repeats).
            IndexModel(
                [("user_id", ASCENDING), ("topic_id", ASCENDING), ("created_at", DESCENDING)],
                name="user_topic_recent",
            ),
            # A retried POST with the same client_attempt_id can never store a second attempt.
            IndexModel(
                [("user_id", ASCENDING), ("client_attempt_id", ASCENDING)],
                unique=True,
                partialFilterExpression={"client_attempt_id": {"$type": "string"}},
                name="user_client_attempt_unique",
            ),
        ]
