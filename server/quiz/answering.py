"""Answering a question: the attempt is stored first, then its effects are applied, each
idempotent on its own (see the service's docstring and docs/QUIZZES.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final, Literal

from pymongo.errors import DuplicateKeyError

from models import (
    AttemptResult,
    Question,
    QuizAttempt,
    User,
)
from models.common import utcnow
from models.question import Difficulty
from server.chat.limits import local_day
from server.errors import Conflict
from server.ids import object_id
from server.memory import service as memory
from server.progress.service import ProgressService
from server.quiz import mastery_store
from server.quiz.errors import invalid_field, question_not_found
from server.quiz.schemas import (
    AttemptCreate,
    AttemptPublic,
    MasteryChange,
    MasteryPointPublic,
    XpChange,
)
from server.quiz.topics import topic_ref
from server.quiz.visibility import visible_filter

# XP for a right answer, once per question per local day (re-answering earns nothing more).
QUIZ_XP: Final[Mapping[Difficulty, int]] = {"easy": 5, "medium": 8, "hard": 10}


async def _question(question_id: str, user: User) -> Question:
    """The question if `user` may answer it: the global bank's or their organization's, and
    for learners published (retired ones stay answerable for whoever was shown them). Any
    other is 404, so another organization's questions cannot be probed."""
    query = visible_filter(user.org_id, active_only=False)
    if user.role in ("mentor", "admin"):
        del query["status"]  # their organization's drafts, to try them before publishing
    query["_id"] = object_id(question_id, question_not_found)
    question = await Question.find_one(query)
    if question is None:
        raise question_not_found()
    return question


async def _effects(
    user: User, question: Question, attempt: QuizAttempt, progress: ProgressService
) -> AttemptResult:
    """Everything an attempt causes; each step is idempotent, so re-running it is safe."""
    assert user.id is not None
    topic = topic_ref(question.topic_id, question.subject)
    applied = await mastery_store.apply_attempt(user, topic, question, attempt)
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
    standing = await progress.xp_standing(user_id=user.id)
    return AttemptResult(
        before=applied.before,
        after=applied.after,
        counted=applied.counted,
        next_review_at=applied.next_review_at,
        xp_awarded=award.amount if award is not None else 0,
        xp_total=standing.xp_total,
        level=standing.level,
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
    question = await _question(body.question_id, user)
    if body.option >= len(question.options):
        raise invalid_field(
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
