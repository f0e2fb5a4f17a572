"""Which question next: the requested topic, else due reviews, weak topics, the exam's new
topics, its practised topics by lowest mastery, then any question (docs/QUIZZES.md), with
up to two passages of the learner's own library on its topic. Reads only: nothing here
writes."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from beanie import PydanticObjectId
from bson import ObjectId
from pymongo import DESCENDING

from models import Question, QuizAttempt, TopicMastery, User
from models.common import utcnow
from server.library import service as library_service
from server.memory import service as memory
from server.memory.taxonomy import load_taxonomy
from server.quiz import mastery
from server.quiz.errors import invalid_field, no_question
from server.quiz.schemas import NextQuestion, NextReason, QuestionPublic, QuizNote
from server.quiz.topics import exam_of, topic_ref

# A question answered within this window is not served again while others are available.
REPEAT_AFTER: Final = timedelta(hours=24)
DUE_TOPICS_TRIED: Final = 10  # due reviews looked at per request, earliest first
PRACTISED_TOPICS_TRIED: Final = 10  # lowest-mastery exam topics looked at per request
_CANDIDATES: Final = 200  # questions considered per pick
_RECENT_LIMIT: Final = 1000
NOTES_PER_QUESTION: Final = 2  # passages of the learner's library shown with a question
QUOTE_CHARS: Final = 300

log = logging.getLogger("starguide.quiz")


def _choose(candidates: Sequence[Mapping[str, Any]], points: int) -> Mapping[str, Any]:
    """The candidate nearest the target difficulty for these points; random among ties, so
    repeated picks vary."""
    target = mastery.DIFFICULTY_RANK[mastery.target_difficulty(points)]

    def distance(c: Mapping[str, Any]) -> int:
        return abs(mastery.DIFFICULTY_RANK.get(c.get("difficulty", "medium"), 1) - target)

    best = min(distance(c) for c in candidates)
    nearest = [c for c in candidates if distance(c) == best]
    return nearest[secrets.randbelow(len(nearest))]


@dataclass(slots=True)
class _Picker:
    """One `next` request: the learner, the time, and their points per practised topic."""

    user_id: PydanticObjectId
    now: datetime
    points: dict[str, int]

    async def recent(self, topic_id: str | None = None) -> dict[ObjectId, datetime]:
        """Questions answered within `REPEAT_AFTER` (of one topic, or any), with when they
        last were; served by the (user_id, topic_id, created_at) and (user_id, created_at)
        indexes."""
        query: dict[str, Any] = {"user_id": self.user_id}
        if topic_id is not None:
            query["topic_id"] = topic_id
        query["created_at"] = {"$gte": self.now - REPEAT_AFTER}
        cursor = (
            QuizAttempt.get_pymongo_collection()
            .find(query, projection={"question_id": 1, "created_at": 1})
            .sort("created_at", DESCENDING)
            .limit(_RECENT_LIMIT)
        )
        recent: dict[ObjectId, datetime] = {}
        async for raw in cursor:
            recent.setdefault(raw["question_id"], raw["created_at"])
        return recent

    async def in_topic(self, topic_id: str, *, allow_repeat: bool) -> Question | None:
        """A question of the topic not answered lately, at the difficulty the learner's points
        call for; with `allow_repeat`, else the one answered longest ago."""
        candidates = (
            await Question.get_pymongo_collection()
            .find(
                {"topic_id": topic_id, "active": True},
                projection={"_id": 1, "difficulty": 1},
            )
            .limit(_CANDIDATES)
            .to_list()
        )
        if not candidates:
            return None
        recent = await self.recent(topic_id)
        fresh = [c for c in candidates if c["_id"] not in recent]
        if fresh:
            chosen = _choose(fresh, self.points.get(topic_id, 0))
        elif allow_repeat:
            chosen = min(candidates, key=lambda c: recent[c["_id"]])
        else:
            return None
        return await Question.get(chosen["_id"])

    async def anywhere(self, exam: str | None) -> tuple[Question, NextReason] | None:
        """Any active question not answered lately (the learner's exam first); failing that,
        the one answered longest ago."""
        recent = await self.recent()
        collection = Question.get_pymongo_collection()
        filters: list[dict[str, Any]] = [{"exams": exam}] if exam else []
        filters.append({})
        for extra in filters:
            query = {"active": True, "_id": {"$nin": list(recent)}, **extra}
            ids = await collection.find(query, projection={"_id": 1}).limit(_CANDIDATES).to_list()
            if ids:
                question = await Question.get(ids[secrets.randbelow(len(ids))]["_id"])
                if question is not None:
                    return question, "any"
        # Everything was answered lately: the least recently answered active question.
        oldest = sorted(recent, key=recent.__getitem__)[:_CANDIDATES]
        if not oldest:
            return None
        cursor = collection.find({"_id": {"$in": oldest}, "active": True}, projection={"_id": 1})
        active = {raw["_id"] async for raw in cursor}
        for question_id in oldest:
            if question_id in active:
                question = await Question.get(question_id)
                if question is not None:
                    return question, "repeat"
        return None


async def _points_by_topic(user_id: PydanticObjectId) -> dict[str, int]:
    cursor = TopicMastery.get_pymongo_collection().find(
        {"user_id": user_id}, projection={"topic_id": 1, "points": 1}
    )
    return {raw["topic_id"]: int(raw.get("points", 0)) async for raw in cursor}


async def _due_topics(user_id: PydanticObjectId, now: datetime) -> list[str]:
    cursor = (
        TopicMastery.get_pymongo_collection()
        .find({"user_id": user_id, "due": {"$lte": now}}, projection={"topic_id": 1})
        .sort("due", 1)
        .limit(DUE_TOPICS_TRIED)
    )
    return [raw["topic_id"] async for raw in cursor]


async def pick(
    *, user: User, topic: str | None = None, now: datetime | None = None
) -> tuple[Question, NextReason]:
    """The next question and why, in the order of docs/QUIZZES.md: the requested topic;
    else due reviews (earliest first), weak topics, the exam's topics not yet practised, the
    exam's practised topics by lowest mastery, then any question."""
    assert user.id is not None
    now = now or utcnow()
    taxonomy = load_taxonomy()
    if topic is not None:
        if taxonomy.get(topic) is None:
            raise invalid_field("topic", f"Unknown topic {topic!r}.", code="unknown_topic")
    picker = _Picker(user.id, now, await _points_by_topic(user.id))
    if topic is not None:
        question = await picker.in_topic(topic, allow_repeat=True)
        if question is None:
            raise no_question(topic)
        return question, "requested"

    for topic_id in await _due_topics(user.id, now):
        question = await picker.in_topic(topic_id, allow_repeat=False)
        if question is not None:
            return question, "review_due"

    for weak in await memory.weak_topics(user.id, now=now):
        question = await picker.in_topic(weak.topic_id, allow_repeat=False)
        if question is not None:
            return question, "weak_topic"

    exam = exam_of(user)
    if exam is not None:
        topic_ids = await Question.get_pymongo_collection().distinct(
            "topic_id", {"exams": exam, "active": True}
        )
        new = [t for t in topic_ids if t not in picker.points]
        while new:  # a random unpractised topic: interleaves subjects
            topic_id = new.pop(secrets.randbelow(len(new)))
            question = await picker.in_topic(topic_id, allow_repeat=False)
            if question is not None:
                return question, "new_topic"
        practised = sorted(
            (t for t in topic_ids if t in picker.points), key=lambda t: (picker.points[t], t)
        )
        for topic_id in practised[:PRACTISED_TOPICS_TRIED]:
            question = await picker.in_topic(topic_id, allow_repeat=False)
            if question is not None:
                return question, "low_mastery"

    found = await picker.anywhere(exam)
    if found is None:
        raise no_question()
    return found


async def _notes(*, user: User, question: Question, topic_name: str) -> list[QuizNote]:
    """Passages of the learner's readable library tagged with the question's topic, through
    the library's one search entry point (which keeps out what the learner may not read).
    A failed search costs the notes, never the question."""
    try:
        found = await library_service.search(
            user=user,
            query=f"{topic_name}. {question.stem}",
            limit=NOTES_PER_QUESTION,
            topics=[question.topic_id],
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("library search for quiz notes failed: %s", type(exc).__name__)
        return []
    return [
        QuizNote(document_id=p.document_id, title=p.title, page=p.page, quote=_quote(p.text))
        for p in found
    ]


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= QUOTE_CHARS:
        return text
    return text[: QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"


async def next_question(
    *, user: User, topic: str | None = None, now: datetime | None = None
) -> NextQuestion:
    question, reason = await pick(user=user, topic=topic, now=now)
    ref = topic_ref(question.topic_id, question.subject)
    return NextQuestion(
        question=QuestionPublic.from_doc(question, ref),
        reason=reason,
        notes=await _notes(user=user, question=question, topic_name=ref.name),
    )
