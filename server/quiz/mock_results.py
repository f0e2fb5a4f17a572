"""A finished mock test folded into topic mastery and FSRS reviews, once per test.

Each topic the test asked about gets a compare-and-set on its `topic_mastery` document (the
same `version` CAS as a quiz answer, docs/QUIZZES.md section 6), all sent in one bulk write,
recording the test's id in `applied`: a second call for the same test (a retried submit, the
sweep finishing a test a crashed instance ended) finds it there and changes nothing. Whether
the learner-memory signal follows is the caller's once-only decision (practice gates it on
the test itself). Points move answer by answer, as quiz answers would; the topic's FSRS card
is reviewed once per test, `Good` when at least half of the topic's answered questions were
right and `Again` otherwise, since a mock test is one sitting, not several reviews days
apart. Unanswered questions are no evidence either way.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from beanie import PydanticObjectId
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from models import AppliedAnswer, MasteryPoint, TopicMastery, TopicRef, User
from models.common import utcnow
from models.question import Difficulty
from server.errors import ServiceUnavailable
from server.quiz import mastery
from server.quiz.mastery_store import APPLIED_KEPT

_CAS_TRIES: Final = 50
_DUPLICATE_KEY: Final = 11000


@dataclass(frozen=True, slots=True)
class PaperAnswer:
    """One answered question of a test (unanswered ones are left out)."""

    question_id: PydanticObjectId
    topic: TopicRef
    difficulty: Difficulty
    correct: bool


@dataclass(frozen=True, slots=True)
class TopicOutcome:
    topic: TopicRef
    before: MasteryPoint
    after: MasteryPoint
    right: int
    wrong: int
    first_mastered: bool


def _update(
    current: TopicMastery,
    test_id: PydanticObjectId,
    answers: Sequence[PaperAnswer],
    day: str,
    at: datetime,
) -> tuple[AppliedAnswer, dict[str, Any]]:
    points = current.points
    for answer in answers:
        points = mastery.points_after(points, correct=answer.correct, difficulty=answer.difficulty)
    right = sum(a.correct for a in answers)
    card = mastery.review(current.card, correct=2 * right >= len(answers), at=at)
    level = mastery.level_for(points)
    first_mastered = level == "mastered" and current.mastered_at is None
    entry = AppliedAnswer(
        attempt_id=test_id,
        question_id=answers[0].question_id,
        local_day=day,
        counted=True,
        before_points=current.points,
        before_level=mastery.level_for(current.points),
        after_points=points,
        after_level=level,
        first_mastered=first_mastered,
    )
    last = current.last_answer_at
    set_: dict[str, Any] = {
        "points": points,
        "level": level,
        "card": card.model_dump(),
        "due": card.due,
        "last_answer_at": max(last, at) if last else at,
        "updated_at": utcnow(),
    }
    if first_mastered:
        set_["mastered_at"] = at
    update = {
        "$set": set_,
        "$inc": {"version": 1, "attempts": len(answers), "correct": right},
        "$push": {"applied": {"$each": [entry.model_dump()], "$slice": -APPLIED_KEPT}},
    }
    return entry, update


def _outcome(entry: AppliedAnswer, topic: TopicRef, answers: Sequence[PaperAnswer]) -> TopicOutcome:
    right = sum(a.correct for a in answers)
    return TopicOutcome(
        topic=topic,
        before=MasteryPoint(points=entry.before_points, level=entry.before_level),
        after=MasteryPoint(points=entry.after_points, level=entry.after_level),
        right=right,
        wrong=len(answers) - right,
        first_mastered=entry.first_mastered,
    )


async def _ensure(
    user: User, topics: Sequence[TopicRef], at: datetime
) -> dict[str, dict[str, Any]]:
    """The learner's mastery documents of these topics, the missing ones created race-free
    (`$setOnInsert` upserts on the unique (user_id, topic_id) key, sent together)."""
    assert user.id is not None
    collection = TopicMastery.get_pymongo_collection()
    wanted = [t.id for t in topics]

    async def stored() -> dict[str, dict[str, Any]]:
        cursor = collection.find({"user_id": user.id, "topic_id": {"$in": wanted}})
        return {str(raw["topic_id"]): raw async for raw in cursor}

    found = await stored()
    missing = [t for t in topics if t.id not in found]
    if not missing:
        return found
    upserts = []
    for topic in missing:
        blank = TopicMastery(
            user_id=user.id,
            org_id=user.org_id,
            topic_id=topic.id,
            name=topic.name,
            subject=topic.subject,
            card=mastery.new_card(at),
            due=at,
        )
        defaults = blank.model_dump(exclude={"id", "user_id", "topic_id", "revision_id"})
        upserts.append(
            UpdateOne(
                {"user_id": user.id, "topic_id": topic.id}, {"$setOnInsert": defaults}, upsert=True
            )
        )
    try:
        await collection.bulk_write(upserts, ordered=False)
    except BulkWriteError as exc:  # a racing writer inserted some first: they exist now
        if any(e.get("code") != _DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            raise
    return await stored()


def _found(raw: dict[str, Any], test_id: PydanticObjectId) -> AppliedAnswer | None:
    for entry in raw.get("applied", []):
        if entry.get("attempt_id") == test_id:
            return AppliedAnswer.model_validate(entry)
    return None


async def apply_test(
    *,
    user: User,
    test_id: PydanticObjectId,
    answers: Sequence[PaperAnswer],
    local_day: str,
    at: datetime,
) -> list[TopicOutcome]:
    """Folds a test's answers into the learner's mastery, topic by topic, once per test.

    One read of every topic's document (missing ones created by one bulk upsert), then one
    unordered bulk write of a compare-and-set per topic (filtered on the `version` each was
    computed from). Topics whose write lost a race (a quiz answer, another call for the same
    test) are read again and recomputed, unless the test's entry is there already. The
    outcome of each topic is the test's entry in `applied`, whoever wrote it, so every call
    for the same test reports the same.
    """
    by_topic: dict[str, list[PaperAnswer]] = {}
    topics: dict[str, TopicRef] = {}
    for answer in answers:
        by_topic.setdefault(answer.topic.id, []).append(answer)
        topics.setdefault(answer.topic.id, answer.topic)
    if not by_topic:
        return []
    collection = TopicMastery.get_pymongo_collection()
    stored = await _ensure(user, list(topics.values()), at)
    done: dict[str, AppliedAnswer] = {}
    pending = list(by_topic)
    for tries in range(_CAS_TRIES):
        writes: list[UpdateOne] = []
        mine: dict[str, AppliedAnswer] = {}
        for topic_id in pending:
            raw = stored[topic_id]
            entry = _found(raw, test_id)
            if entry is not None:
                done[topic_id] = entry
                continue
            current = TopicMastery.model_validate(raw)
            mine[topic_id], update = _update(current, test_id, by_topic[topic_id], local_day, at)
            key = {"user_id": user.id, "topic_id": topic_id, "version": current.version}
            writes.append(UpdateOne(key, update))
        if not writes:
            break
        written = await collection.bulk_write(writes, ordered=False)
        if written.modified_count == len(writes):
            done |= mine
            break
        # Some lost a race: read those again; the test's entry, if there, is the outcome.
        pending = list(mine)
        await asyncio.sleep(secrets.randbelow(1 + min(tries, 10) * 2) / 1000)
        cursor = collection.find({"user_id": user.id, "topic_id": {"$in": pending}})
        stored |= {str(raw["topic_id"]): raw async for raw in cursor}
    else:
        raise ServiceUnavailable(
            "The test is saved; updating your mastery is busy. Read the test again shortly.",
            code="mastery_busy",
            retry_after=1,
        )
    return [_outcome(done[tid], topics[tid], by_topic[tid]) for tid in by_topic]
