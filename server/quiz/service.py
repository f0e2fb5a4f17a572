"""Quizzes: which question next, what an answer changes, and topic mastery for dashboards.

Answering stores the attempt first, then applies its effects, each idempotent on its own:
mastery by a compare-and-set that records the attempt it applied, the learner-memory signal
only by whoever applied the mastery, the streak per local day, and XP under a key that is once
per question per local day. So a retried POST (same `client_attempt_id`) can always finish an
interrupted attempt without doing anything twice, and concurrent answers never lose one.
See docs/QUIZZES.md.

The feature's jobs live in their own modules: `picking` (the next question), `answering`
(an attempt and its effects), `bank` (seeding the question bank); this module is what other
features call, plus the mastery reads the learner's dashboard needs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from beanie import PydanticObjectId
from pymongo import DESCENDING

from models import TopicMastery
from server.quiz import mastery
from server.quiz.answering import QUIZ_XP, answer
from server.quiz.drawing import (
    Candidate,
    answer_times,
    due_topic_ids,
    questions_by_ids,
    test_candidates,
)
from server.quiz.mock_results import PaperAnswer, TopicOutcome, apply_test
from server.quiz.picking import next_question, pick
from server.quiz.schemas import TopicMasteryPublic
from server.quiz.topics import exam_of, topic_ref

__all__ = [
    "QUIZ_XP",
    "TOPICS_SHOWN",
    "Candidate",
    "PaperAnswer",
    "TopicOutcome",
    "answer",
    "answer_times",
    "apply_test",
    "due_topic_ids",
    "exam_of",
    "next_question",
    "pick",
    "questions_by_ids",
    "reviews_due",
    "test_candidates",
    "topic_ref",
    "topics_for",
]

TOPICS_SHOWN: Final = 50  # `topics_for` cap


# ---- for the learner's dashboard (server/dashboards) ------------------------------------------
async def topics_for(user_id: PydanticObjectId) -> list[TopicMasteryPublic]:
    """The learner's topic mastery, most recently practised first (at most 50)."""
    cursor = (
        TopicMastery.get_pymongo_collection()
        .find(
            {"user_id": user_id},
            projection={"topic_id": 1, "name": 1, "subject": 1, "points": 1, "level": 1},
        )
        .sort([("last_answer_at", DESCENDING)])
        .limit(TOPICS_SHOWN)
    )
    return [
        TopicMasteryPublic(
            topic_id=raw["topic_id"],
            name=raw["name"],
            subject=raw["subject"],
            mastery=float(raw.get("points", 0)),
            level=mastery.level_for(int(raw.get("points", 0))),
        )
        async for raw in cursor
    ]


async def reviews_due(user_id: PydanticObjectId, now: datetime) -> int:
    """Topics whose spaced review is due at `now`: one count on the (user_id, due) index."""
    return await TopicMastery.get_pymongo_collection().count_documents(
        {"user_id": user_id, "due": {"$lte": now}}
    )
