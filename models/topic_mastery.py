from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow

MasteryLevel = Literal["attempted", "familiar", "proficient", "mastered"]


class FsrsCard(BaseModel):
    """An `fsrs.Card` as a sub-document, with real dates instead of `to_dict()`'s strings."""

    card_id: int
    state: int  # fsrs.State: 1 learning, 2 review, 3 relearning
    step: int | None = None
    stability: float | None = None
    difficulty: float | None = None
    due: datetime
    last_review: datetime | None = None


class AppliedAnswer(BaseModel):
    """An attempt already folded into the mastery: applying it again is a no-op. `question_id`
    and `local_day` spot a question answered again the same day, which does not count."""

    attempt_id: PydanticObjectId
    question_id: PydanticObjectId
    local_day: str
    counted: bool
    before_points: int
    before_level: MasteryLevel
    after_points: int
    after_level: MasteryLevel
    first_mastered: bool = False  # this answer made the topic mastered for the first time


class TopicMastery(Document):
    """One learner's mastery of one syllabus topic: Khan-style points and level, and an FSRS
    card that schedules the topic's next review (docs/QUIZZES.md).

    Written only by a compare-and-set on `version`, so concurrent answers never lose one.
    `due` mirrors `card.due` at the top level for the (user_id, due) index. `applied` keeps
    the last few attempts applied, which makes re-applying an attempt (a retried POST) safe.
    """

    user_id: PydanticObjectId
    org_id: PydanticObjectId | None = None
    topic_id: str
    name: str
    subject: str
    points: int = 0  # 0..100
    level: MasteryLevel = "attempted"
    attempts: int = 0
    correct: int = 0
    card: FsrsCard
    due: datetime
    version: int = 0
    applied: list[AppliedAnswer] = Field(default_factory=list)
    last_answer_at: datetime | None = None
    # When the topic first reached "mastered": set once, inside the compare-and-set, so the
    # "topics mastered" badge counter moves exactly once per topic even if the level drops.
    mastered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "topic_mastery"
        indexes = [
            IndexModel(
                [("user_id", ASCENDING), ("topic_id", ASCENDING)],
                unique=True,
                name="user_topic_unique",
            ),
            # Serves "reviews due now" (a count) and "earliest due first" (the picker).
            IndexModel([("user_id", ASCENDING), ("due", ASCENDING)], name="user_due"),
            # Serves "most recently practised topics" (GET /progress/me).
            IndexModel(
                [("user_id", ASCENDING), ("last_answer_at", DESCENDING)], name="user_recent"
            ),
        ]
