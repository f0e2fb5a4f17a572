"""The `topic_mastery` compare-and-set that folds one attempt into a learner's topic, exactly
once (docs/QUIZZES.md). The pure rules are `mastery`; this module only stores them."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from models import AppliedAnswer, MasteryPoint, Question, QuizAttempt, TopicMastery, TopicRef, User
from models.common import utcnow
from server.errors import ServiceUnavailable
from server.quiz import mastery

log = logging.getLogger("starguide.quiz")

APPLIED_KEPT: Final = 20  # attempts remembered per topic to make re-applying one a no-op
_CAS_TRIES: Final = 50


@dataclass(frozen=True, slots=True)
class Applied:
    before: MasteryPoint
    after: MasteryPoint
    counted: bool
    next_review_at: datetime
    applied_now: bool  # False: an earlier call for this attempt had applied it
    first_mastered: bool


def _outcome(entry: AppliedAnswer, due: datetime, *, applied_now: bool) -> Applied:
    return Applied(
        before=MasteryPoint(points=entry.before_points, level=entry.before_level),
        after=MasteryPoint(points=entry.after_points, level=entry.after_level),
        counted=entry.counted,
        next_review_at=due,
        applied_now=applied_now,
        first_mastered=entry.first_mastered,
    )


async def _stored_or_blank(
    key: dict[str, Any], user: User, topic: TopicRef, attempt: QuizAttempt
) -> dict[str, Any]:
    """The learner's mastery of the topic, created race-free if missing: one `$setOnInsert`
    upsert that returns the document (a no-op for an existing one), so a first answer costs
    one command, not a read, an upsert and a re-read. Two first writers racing on the unique
    (user_id, topic_id) index: the loser's retry matches the winner's document."""
    assert user.id is not None
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
    collection = TopicMastery.get_pymongo_collection()
    for tries in range(2):
        try:
            raw = await collection.find_one_and_update(
                key, {"$setOnInsert": defaults}, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            if tries:
                raise
            continue
        if raw is not None:
            return dict(raw)
    raise AssertionError("an upsert returning the document after always returns one")


def _write_for(
    current: TopicMastery, question: Question, attempt: QuizAttempt
) -> tuple[AppliedAnswer, dict[str, Any], datetime]:
    """The entry recording the attempt, the update applying it to `current`, and the next
    review date: computed from the version read, written only if it is still current."""
    assert attempt.id is not None
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
    return entry, update, step.card.due


async def apply_attempt(
    user: User, topic: TopicRef, question: Question, attempt: QuizAttempt
) -> Applied:
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
    raw: dict[str, Any] | None = await _stored_or_blank(key, user, topic, attempt)
    for tries in range(_CAS_TRIES):
        assert raw is not None
        current = TopicMastery.model_validate(raw)
        done = next((a for a in current.applied if a.attempt_id == attempt.id), None)
        if done is not None:
            return _outcome(done, current.due, applied_now=False)
        entry, update, due = _write_for(current, question, attempt)
        # Only whether it matched matters: the outcome is computed, nothing is read back.
        written = await collection.update_one(key | {"version": current.version}, update)
        if written.matched_count:
            return _outcome(entry, due, applied_now=True)
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
