"""Quizzes: which question next, what an answer changes, and topic mastery for progress.

Answering stores the attempt first, then applies its effects, each idempotent on its own:
mastery by a compare-and-set that records the attempt it applied, the learner-memory signal
only by whoever applied the mastery, the streak per local day, and XP under a key that is once
per question per local day. So a retried POST (same `client_attempt_id`) can always finish an
interrupted attempt without doing anything twice, and concurrent answers never lose one.
See docs/QUIZZES.md.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from beanie import PydanticObjectId
from bson import ObjectId
from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from models import (
    AppliedAnswer,
    AttemptResult,
    MasteryPoint,
    Progress,
    Question,
    QuizAttempt,
    TopicMastery,
    TopicRef,
    User,
)
from models.common import utcnow
from models.question import Difficulty
from server.chat.limits import local_day
from server.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from server.ids import object_id
from server.memory import service as memory
from server.memory.taxonomy import load_taxonomy
from server.mongo import upsert
from server.progress import levels
from server.progress.schemas import TopicMasteryPublic
from server.quiz import mastery
from server.quiz.schemas import (
    AttemptCreate,
    AttemptPublic,
    MasteryChange,
    MasteryPointPublic,
    NextQuestion,
    NextReason,
    QuestionPublic,
    XpChange,
)

if TYPE_CHECKING:  # progress/service.py imports this module for GET /progress/me
    from server.progress.service import ProgressService

log = logging.getLogger("starguide.quiz")

# XP for a right answer, once per question per local day (re-answering earns nothing more).
QUIZ_XP: Final[Mapping[Difficulty, int]] = {"easy": 5, "medium": 8, "hard": 10}
# A question answered within this window is not served again while others are available.
REPEAT_AFTER: Final = timedelta(hours=24)
DUE_TOPICS_TRIED: Final = 10  # due reviews looked at per request, earliest first
PRACTISED_TOPICS_TRIED: Final = 10  # lowest-mastery exam topics looked at per request
TOPICS_SHOWN: Final = 50  # `topics_for` cap
APPLIED_KEPT: Final = 20  # attempts remembered per topic to make re-applying one a no-op
_CANDIDATES: Final = 200  # questions considered per pick
_RECENT_LIMIT: Final = 1000
_CAS_TRIES: Final = 50


# ---- errors ---------------------------------------------------------------------------------
def _question_not_found() -> NotFound:
    return NotFound("Question not found.", code="question_not_found")


def _no_question(topic: str | None = None) -> NotFound:
    details = {"topic": topic} if topic else None
    return NotFound("No question is available yet.", code="no_question_available", details=details)


def _invalid_field(field: str, message: str, *, code: str) -> ValidationFailed:
    """A 422 in the shape request validation uses (`details.fields`)."""
    return ValidationFailed(
        message,
        code=code,
        details={"fields": [{"field": field, "message": message, "type": code}]},
    )


# ---- helpers --------------------------------------------------------------------------------
def topic_ref(topic_id: str, subject: str) -> TopicRef:
    """The taxonomy's name for a topic; a topic the taxonomy has dropped keeps its id as name."""
    topic = load_taxonomy().get(topic_id)
    if topic is None:
        return TopicRef(id=topic_id, name=topic_id, subject=subject)
    return TopicRef(id=topic.id, name=topic.name, subject=topic.subject)


def exam_of(user: User) -> str | None:
    """The learner's exam as the taxonomy spells it ("jee advanced" → "JEE"), or None."""
    if not user.profile.exam:
        return None
    known = {e for s in load_taxonomy().subjects.values() for e in s.exams}
    wanted = user.profile.exam.strip().upper()
    if wanted in known:
        return wanted
    first = wanted.split()[0] if wanted.split() else ""
    return first if first in known else None


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


# ---- the next question ----------------------------------------------------------------------
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
            raise _invalid_field("topic", f"Unknown topic {topic!r}.", code="unknown_topic")
    picker = _Picker(user.id, now, await _points_by_topic(user.id))
    if topic is not None:
        question = await picker.in_topic(topic, allow_repeat=True)
        if question is None:
            raise _no_question(topic)
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
        raise _no_question()
    return found


async def next_question(
    *, user: User, topic: str | None = None, now: datetime | None = None
) -> NextQuestion:
    question, reason = await pick(user=user, topic=topic, now=now)
    return NextQuestion(
        question=QuestionPublic.from_doc(question, topic_ref(question.topic_id, question.subject)),
        reason=reason,
    )


# ---- answering ------------------------------------------------------------------------------
async def _question(question_id: str) -> Question:
    question = await Question.get(object_id(question_id, _question_not_found))
    if question is None:
        raise _question_not_found()
    return question


@dataclass(frozen=True, slots=True)
class _Applied:
    before: MasteryPoint
    after: MasteryPoint
    counted: bool
    next_review_at: datetime
    applied_now: bool  # False: an earlier call for this attempt had applied it
    first_mastered: bool


def _outcome(entry: AppliedAnswer, due: datetime, *, applied_now: bool) -> _Applied:
    return _Applied(
        before=MasteryPoint(points=entry.before_points, level=entry.before_level),
        after=MasteryPoint(points=entry.after_points, level=entry.after_level),
        counted=entry.counted,
        next_review_at=due,
        applied_now=applied_now,
        first_mastered=entry.first_mastered,
    )


async def _apply_mastery(
    user: User, topic: TopicRef, question: Question, attempt: QuizAttempt
) -> _Applied:
    """Folds one attempt into the learner's topic mastery, exactly once.

    The document is created race-free by a `$setOnInsert` upsert; then a compare-and-set on
    `version` writes points, level and card computed from the version read, with the counters
    `$inc`ed and the attempt pushed onto `applied` in the same update. A writer that lost the
    race re-reads and recomputes; one that finds its attempt in `applied` (a retry) does
    nothing and reports what was applied. The same question answered again on the same local
    day is found in `applied` too, inside the compare-and-set, so whether it counts is decided
    race-free (it is counted in `attempts` but moves neither points nor card).
    """
    assert user.id is not None and attempt.id is not None
    collection = TopicMastery.get_pymongo_collection()
    key = {"user_id": user.id, "topic_id": topic.id}
    raw = await collection.find_one(key)
    if raw is None:
        blank = TopicMastery(
            user_id=user.id,
            org_id=user.org_id,
            topic_id=topic.id,
            name=topic.name,
            subject=topic.subject,
            card=mastery.new_card(attempt.created_at),
            due=attempt.created_at,
        )
        defaults = blank.model_dump(exclude={"id", "user_id", "topic_id", "revision_id"})
        await upsert(collection, key, {"$setOnInsert": defaults})
        raw = await collection.find_one(key)
    for tries in range(_CAS_TRIES):
        assert raw is not None
        current = TopicMastery.model_validate(raw)
        done = next((a for a in current.applied if a.attempt_id == attempt.id), None)
        if done is not None:
            return _outcome(done, current.due, applied_now=False)
        repeat = any(
            a.question_id == attempt.question_id and a.local_day == attempt.local_day
            for a in current.applied
        )
        step = mastery.apply_answer(
            points=current.points,
            card=current.card,
            correct=attempt.correct,
            difficulty=question.difficulty,
            at=attempt.created_at,
            repeat=repeat,
        )
        first_mastered = step.after_level == "mastered" and current.mastered_at is None
        entry = AppliedAnswer(
            attempt_id=attempt.id,
            question_id=attempt.question_id,
            local_day=attempt.local_day,
            counted=not repeat,
            before_points=step.before_points,
            before_level=step.before_level,
            after_points=step.after_points,
            after_level=step.after_level,
            first_mastered=first_mastered,
        )
        last = current.last_answer_at
        update: dict[str, Any] = {
            "$set": {
                "points": step.after_points,
                "level": step.after_level,
                "card": step.card.model_dump(),
                "due": step.card.due,
                "last_answer_at": max(last, attempt.created_at) if last else attempt.created_at,
                "updated_at": utcnow(),
            },
            "$inc": {"version": 1, "attempts": 1, "correct": int(attempt.correct)},
            "$push": {"applied": {"$each": [entry.model_dump()], "$slice": -APPLIED_KEPT}},
        }
        if first_mastered:
            update["$set"]["mastered_at"] = attempt.created_at
        written = await collection.find_one_and_update(
            key | {"version": current.version}, update, return_document=ReturnDocument.AFTER
        )
        if written is not None:
            return _outcome(entry, step.card.due, applied_now=True)
        # Lost the race: back off a little (more after each loss), then recompute from fresh.
        await asyncio.sleep(secrets.randbelow(1 + min(tries, 10) * 2) / 1000)
        raw = await collection.find_one(key)
    log.warning("topic mastery kept losing races", extra={"user_id": str(user.id)})
    raise ServiceUnavailable(
        "Your answer is saved; updating your mastery is busy. Retry with the same "
        "client_attempt_id.",
        code="mastery_busy",
        retry_after=1,
    )


async def _xp_totals(user_id: PydanticObjectId) -> tuple[int, int]:
    raw = await Progress.get_pymongo_collection().find_one(
        {"user_id": user_id}, projection={"xp_total": 1}
    )
    xp_total = int(raw.get("xp_total", 0)) if raw else 0
    return xp_total, levels.level_for_xp(xp_total)


async def _effects(
    user: User, question: Question, attempt: QuizAttempt, progress: ProgressService
) -> AttemptResult:
    """Everything an attempt causes; each step is idempotent, so re-running it is safe."""
    assert user.id is not None
    topic = topic_ref(question.topic_id, question.subject)
    applied = await _apply_mastery(user, topic, question, attempt)
    if applied.applied_now and applied.counted:
        kind: memory.SignalKind = "quiz_right" if attempt.correct else "quiz_wrong"
        verb = "answered" if attempt.correct else "missed"
        await memory.signal(
            user.id,
            topic,
            kind,
            reason=f"{verb} a quiz question ({question.difficulty})",
            at=attempt.created_at,
        )
    # Badge counters move only with the call that applied the answer: exactly once.
    counts: dict[Literal["quiz_correct", "topics_mastered"], int] = {
        "quiz_correct": int(applied.applied_now and applied.counted and attempt.correct),
        "topics_mastered": int(applied.applied_now and applied.first_mastered),
    }
    await progress.record_activity(user=user, at=attempt.created_at, counts=counts)
    award = None
    if attempt.correct:
        award = await progress.award(
            user=user,
            amount=QUIZ_XP[question.difficulty],
            source="quiz",
            source_id=f"{question.id}:{attempt.local_day}",
            at=attempt.created_at,
        )
    # Read after the award: it may have completed the daily goal, which adds its own reward.
    xp_total, level = await _xp_totals(user.id)
    return AttemptResult(
        before=applied.before,
        after=applied.after,
        counted=applied.counted,
        next_review_at=applied.next_review_at,
        xp_awarded=award.amount if award is not None else 0,
        xp_total=xp_total,
        level=level,
    )


async def _store_result(attempt: QuizAttempt, result: AttemptResult) -> AttemptResult:
    """The first result stored wins, so every answer to one attempt is the same."""
    collection = QuizAttempt.get_pymongo_collection()
    written = await collection.update_one(
        {"_id": attempt.id, "result": None}, {"$set": {"result": result.model_dump()}}
    )
    if written.modified_count:
        return result
    stored = await QuizAttempt.get(attempt.id)  # type: ignore[arg-type]
    return stored.result if stored is not None and stored.result is not None else result


def _public(
    attempt: QuizAttempt, question: Question, result: AttemptResult, *, replayed: bool
) -> AttemptPublic:
    topic = topic_ref(question.topic_id, question.subject)
    return AttemptPublic(
        attempt_id=str(attempt.id),
        question_id=str(question.id),
        correct=attempt.correct,
        correct_option=question.answer,
        explanation=question.explanation,
        mastery=MasteryChange(
            topic_id=topic.id,
            name=topic.name,
            subject=topic.subject,
            before=MasteryPointPublic(**result.before.model_dump()),
            after=MasteryPointPublic(**result.after.model_dump()),
            counted=result.counted,
            next_review_at=result.next_review_at,
        ),
        xp=XpChange(awarded=result.xp_awarded, xp_total=result.xp_total, level=result.level),
        replayed=replayed,
        created_at=attempt.created_at,
    )


async def answer(
    *,
    user: User,
    body: AttemptCreate,
    progress: ProgressService,
    now: datetime | None = None,
) -> AttemptPublic:
    """Stores the attempt, applies its effects, and answers with the correct option, the
    explanation, the mastery change and the XP.

    A `client_attempt_id` already used answers with that attempt's stored result (and
    `replayed: true`); if the first request never finished, this one finishes it. Reusing the
    id for a different question or option is a 409.
    """
    assert user.id is not None
    question = await _question(body.question_id)
    if body.option >= len(question.options):
        raise _invalid_field(
            "option",
            f"The option must be between 0 and {len(question.options) - 1}.",
            code="option_out_of_range",
        )
    at = now or utcnow()
    attempt = QuizAttempt(
        user_id=user.id,
        org_id=user.org_id,
        question_id=question.id,  # type: ignore[arg-type]
        topic_id=question.topic_id,
        option=body.option,
        correct=body.option == question.answer,
        local_day=local_day(user, at).isoformat(),
        client_attempt_id=body.client_attempt_id,
        created_at=at,
    )
    replayed = False
    try:
        await attempt.insert()
    except DuplicateKeyError:
        existing = await QuizAttempt.find_one(
            {"user_id": user.id, "client_attempt_id": body.client_attempt_id}
        )
        if existing is None:  # the first one was erased meanwhile (account deletion)
            raise
        if existing.question_id != question.id or existing.option != body.option:
            raise Conflict(
                "This client_attempt_id was used for a different answer.",
                code="client_attempt_id_reused",
            ) from None
        if existing.result is not None:
            return _public(existing, question, existing.result, replayed=True)
        attempt, replayed = existing, True
    result = await _effects(user, question, attempt, progress)
    return _public(attempt, question, await _store_result(attempt, result), replayed=replayed)


# ---- for GET /progress/me -------------------------------------------------------------------
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
