"""Which question next: the requested topic, else due reviews, weak topics, the exam's new
topics, its practised topics by lowest mastery, then any question (docs/QUIZZES.md), with
up to two passages of the learner's own library on its topic. Reads only: nothing here
writes."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
from server.quiz.visibility import visible_filter

# A question answered within this window is not served again while others are available.
REPEAT_AFTER: Final = timedelta(hours=24)
DUE_TOPICS_TRIED: Final = 10  # due reviews looked at per request, earliest first
PRACTISED_TOPICS_TRIED: Final = 10  # lowest-mastery exam topics looked at per request
_CANDIDATES: Final = 200  # questions considered per pick
_RECENT_LIMIT: Final = 1000
_NEW_BATCH: Final = 10  # unpractised exam topics read together after the first
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
    """One `next` request: the learner, the time, and their points per practised topic.

    What every step needs is read once and reused: the learner's attempts of the last
    `REPEAT_AFTER` (one read on the (user_id, created_at) index serves every topic and the
    final "any question" step), and the candidates of all the topics a step tries (one `$in`
    read on the topic index instead of one per topic)."""

    user_id: PydanticObjectId
    now: datetime
    points: dict[str, int]
    # Published questions of the global bank and the learner's organization only.
    visible: dict[str, Any]
    # Recent attempts, read once: last answer per question, and per (topic, question).
    _recent_any: dict[ObjectId, datetime] | None = None
    _recent_by_topic: dict[str, dict[ObjectId, datetime]] = field(default_factory=dict)
    _recent_complete: bool = False  # False: the read hit its limit, topics read their own

    async def _load_recent(self) -> dict[ObjectId, datetime]:
        """The learner's attempts within `REPEAT_AFTER`, newest first, read once."""
        if self._recent_any is None:
            cursor = (
                QuizAttempt.get_pymongo_collection()
                .find(
                    {"user_id": self.user_id, "created_at": {"$gte": self.now - REPEAT_AFTER}},
                    projection={"_id": 0, "question_id": 1, "topic_id": 1, "created_at": 1},
                )
                .sort("created_at", DESCENDING)
                .limit(_RECENT_LIMIT)
            )
            recent: dict[ObjectId, datetime] = {}
            rows = 0
            async for raw in cursor:
                rows += 1
                recent.setdefault(raw["question_id"], raw["created_at"])
                of_topic = self._recent_by_topic.setdefault(raw.get("topic_id", ""), {})
                of_topic.setdefault(raw["question_id"], raw["created_at"])
            self._recent_any = recent
            self._recent_complete = rows < _RECENT_LIMIT
        return self._recent_any

    async def recent(self, topic_id: str | None = None) -> dict[ObjectId, datetime]:
        """Questions answered within `REPEAT_AFTER` (of one topic, or any), with when they
        last were. One shared read serves them all; only when it hit its limit (a learner
        with more than `_RECENT_LIMIT` answers in a day) does a topic read its own attempts,
        on the (user_id, topic_id, created_at) index, so the answer is the same as per-topic
        reads."""
        everything = await self._load_recent()
        if topic_id is None:
            return everything
        if self._recent_complete:
            return self._recent_by_topic.get(topic_id, {})
        cursor = (
            QuizAttempt.get_pymongo_collection()
            .find(
                {
                    "user_id": self.user_id,
                    "topic_id": topic_id,
                    "created_at": {"$gte": self.now - REPEAT_AFTER},
                },
                projection={"_id": 0, "question_id": 1, "created_at": 1},
            )
            .sort("created_at", DESCENDING)
            .limit(_RECENT_LIMIT)
        )
        recent: dict[ObjectId, datetime] = {}
        async for raw in cursor:
            recent.setdefault(raw["question_id"], raw["created_at"])
        return recent

    async def _candidates(self, topic_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Up to `_CANDIDATES` questions per topic (id and difficulty only), for all the
        topics in one read on the (topic_id, active, difficulty) index. Within a topic the
        rows come in the index order a one-topic read gives, so each topic keeps the same
        first `_CANDIDATES`."""
        cursor = Question.get_pymongo_collection().find(
            {"topic_id": {"$in": list(topic_ids)} if len(topic_ids) > 1 else topic_ids[0]}
            | self.visible,
            projection={"_id": 1, "difficulty": 1, "topic_id": 1},
        )
        if len(topic_ids) == 1:
            cursor = cursor.limit(_CANDIDATES)
        by_topic: dict[str, list[dict[str, Any]]] = {}
        async for raw in cursor:
            group = by_topic.setdefault(raw["topic_id"], [])
            if len(group) < _CANDIDATES:
                group.append(raw)
        return by_topic

    async def in_topic(self, topic_id: str, *, allow_repeat: bool) -> Question | None:
        """A question of the topic not answered lately, at the difficulty the learner's points
        call for; with `allow_repeat`, else the one answered longest ago."""
        candidates = (await self._candidates([topic_id])).get(topic_id)
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

    async def first_of(self, topic_ids: Sequence[str]) -> Question | None:
        """The first of these topics, in order, with a question not answered lately (as
        `in_topic` without repeats for each in turn), from one candidates read."""
        if not topic_ids:
            return None
        by_topic = await self._candidates(topic_ids)
        for topic_id in topic_ids:
            candidates = by_topic.get(topic_id)
            if not candidates:
                continue
            recent = await self.recent(topic_id)
            fresh = [c for c in candidates if c["_id"] not in recent]
            if fresh:
                chosen = _choose(fresh, self.points.get(topic_id, 0))
                question = await Question.get(chosen["_id"])
                if question is not None:
                    return question
        return None

    async def anywhere(self, exam: str | None) -> tuple[Question, NextReason] | None:
        """Any active question not answered lately (the learner's exam first); failing that,
        the one answered longest ago."""
        recent = await self.recent()
        collection = Question.get_pymongo_collection()
        filters: list[dict[str, Any]] = [{"exams": exam}] if exam else []
        filters.append({})
        for extra in filters:
            query = {**self.visible, "_id": {"$nin": list(recent)}, **extra}
            ids = await collection.find(query, projection={"_id": 1}).limit(_CANDIDATES).to_list()
            if ids:
                question = await Question.get(ids[secrets.randbelow(len(ids))]["_id"])
                if question is not None:
                    return question, "any"
        # Everything was answered lately: the least recently answered active question.
        oldest = sorted(recent, key=recent.__getitem__)[:_CANDIDATES]
        if not oldest:
            return None
        cursor = collection.find({"_id": {"$in": oldest}, **self.visible}, projection={"_id": 1})
        active = {raw["_id"] async for raw in cursor}
        for question_id in oldest:
            if question_id in active:
                question = await Question.get(question_id)
                if question is not None:
                    return question, "repeat"
        return None


async def _mastery_of(user_id: PydanticObjectId, now: datetime) -> tuple[dict[str, int], list[str]]:
    """The learner's points per practised topic and their due topics (earliest due first, at
    most `DUE_TOPICS_TRIED`), from one read of their `topic_mastery` documents (the
    (user_id, topic_id) index; a learner has one per practised topic)."""
    cursor = TopicMastery.get_pymongo_collection().find(
        {"user_id": user_id}, projection={"_id": 0, "topic_id": 1, "points": 1, "due": 1}
    )
    points: dict[str, int] = {}
    due: list[tuple[datetime, str]] = []
    async for raw in cursor:
        points[raw["topic_id"]] = int(raw.get("points", 0))
        at = raw.get("due")
        if at is not None and at <= now:
            due.append((at, raw["topic_id"]))
    due.sort()
    return points, [topic_id for _, topic_id in due[:DUE_TOPICS_TRIED]]


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
    points, due = await _mastery_of(user.id, now)
    picker = _Picker(user.id, now, points, visible_filter(user.org_id))
    if topic is not None:
        question = await picker.in_topic(topic, allow_repeat=True)
        if question is None:
            raise no_question(topic)
        return question, "requested"

    question = await picker.first_of(due)
    if question is not None:
        return question, "review_due"

    weak = [w.topic_id for w in await memory.weak_topics(user.id, now=now)]
    question = await picker.first_of(weak)
    if question is not None:
        return question, "weak_topic"

    exam = exam_of(user)
    if exam is not None:
        topic_ids = await Question.get_pymongo_collection().distinct(
            "topic_id", {"exams": exam, **picker.visible}
        )
        # A random order of the unpractised topics (interleaves subjects). The first one
        # usually has a question, so it is read alone; the rest, if needed, in batches.
        new = [t for t in topic_ids if t not in picker.points]
        random.SystemRandom().shuffle(new)
        batches = [new[:1]] + [new[i : i + _NEW_BATCH] for i in range(1, len(new), _NEW_BATCH)]
        for batch in batches:
            question = await picker.first_of(batch)
            if question is not None:
                return question, "new_topic"
        practised = sorted(
            (t for t in topic_ids if t in picker.points), key=lambda t: (picker.points[t], t)
        )
        question = await picker.first_of(practised[:PRACTISED_TOPICS_TRIED])
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
