"""Questions for a mock test, and the quiz facts practice needs (docs/PRACTICE.md).

Only the quiz feature queries `questions`, `quiz_attempts` and `topic_mastery`; the practice
feature draws through these reads. A learner sees the global bank and their organization's
own questions, published ones only: the quiz feature's one filter for that
(`visibility.visible_filter`), which also matches bank documents stored before questions
had an `org_id` or a `status`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from beanie import PydanticObjectId
from pymongo import ASCENDING

from models import Question, QuizAttempt, TopicMastery
from server.quiz.visibility import visible_filter

CANDIDATES_MAX: Final = 5000  # questions considered for one test (the bank has ~600)
DUE_TOPICS_MAX: Final = 50


@dataclass(frozen=True, slots=True)
class Candidate:
    """A question's drawing facts, without its text (the draw reads the full ones it keeps)."""

    id: PydanticObjectId
    topic_id: str
    subject: str
    difficulty: str


async def test_candidates(
    *,
    org_id: PydanticObjectId | None,
    exam: str,
    subjects: Sequence[str] | None = None,
    topic_ids: Sequence[str] | None = None,
) -> list[Candidate]:
    """Every question a learner of `org_id` may be asked in a test of `exam`, limited to
    `subjects` and/or `topic_ids` when given: one query (index `exams, active, topic_id`)
    projecting only what the draw weighs."""
    query: dict[str, Any] = {"exams": exam, **visible_filter(org_id)}
    if subjects is not None:
        query["subject"] = {"$in": list(subjects)}
    if topic_ids is not None:
        query["topic_id"] = {"$in": list(topic_ids)}
    cursor = (
        Question.get_pymongo_collection()
        .find(query, projection={"_id": 1, "topic_id": 1, "subject": 1, "difficulty": 1})
        .limit(CANDIDATES_MAX)
        .batch_size(CANDIDATES_MAX)  # one round trip: a few hundred small documents
    )
    return [
        Candidate(
            id=PydanticObjectId(raw["_id"]),
            topic_id=str(raw["topic_id"]),
            subject=str(raw["subject"]),
            difficulty=str(raw.get("difficulty", "medium")),
        )
        async for raw in cursor
    ]


async def questions_by_ids(*, ids: Sequence[PydanticObjectId]) -> dict[PydanticObjectId, Question]:
    """The full questions drawn, in one `$in` read."""
    cursor = Question.get_pymongo_collection().find({"_id": {"$in": list(ids)}})
    return {PydanticObjectId(raw["_id"]): Question.model_validate(raw) async for raw in cursor}


async def due_topic_ids(*, user_id: PydanticObjectId, now: datetime) -> list[str]:
    """The learner's topics whose FSRS review is due, earliest first (index user_id, due)."""
    cursor = (
        TopicMastery.get_pymongo_collection()
        .find({"user_id": user_id, "due": {"$lte": now}}, projection={"topic_id": 1})
        .sort("due", ASCENDING)
        .limit(DUE_TOPICS_MAX)
    )
    return [str(raw["topic_id"]) async for raw in cursor]


async def answer_times(
    *, user_id: PydanticObjectId, topic_ids: Sequence[str], since: datetime, limit: int
) -> list[datetime]:
    """When the learner answered quiz questions on `topic_ids` since `since`, earliest first,
    at most `limit` (index user_id, topic_id, created_at): a topic assignment's progress, and
    the moment its `limit`-th answer made it complete."""
    cursor = (
        QuizAttempt.get_pymongo_collection()
        .find(
            {
                "user_id": user_id,
                "topic_id": {"$in": list(topic_ids)},
                "created_at": {"$gte": since},
            },
            projection={"created_at": 1},
        )
        .sort("created_at", ASCENDING)
        .limit(limit)
    )
    return [raw["created_at"] async for raw in cursor]
