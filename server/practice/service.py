"""Mock tests: start, autosave, submit, read, and the server ending tests at `ends_at`
(docs/PRACTICE.md). Race-free by construction:

- an autosave is one `update_one` that `$set`s one key of the `answers` map and `$inc`s
  `answers_version`, filtered on the test being the caller's, still open, within
  `ends_at` + grace, and holding that question with that option (`option_counts`): no read
  first, so parallel saves of one answer leave one of them whole;
- ending a test is a compare-and-set from `in_progress` on the `answers_version` the result
  was scored from: the result stored always scores exactly the answers stored, a save that
  slipped in makes the ender score again, and a second submit (or the sweep) finds the test
  submitted and answers with the stored result;
- the effects (mastery, reviews, memory, XP) are idempotent on their own (`effects.py`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo import ReturnDocument

from models import MockTest, User
from models.common import utcnow
from models.mock_test import EndReason, PaperResult, SavedAnswer
from server.events import MockTestEnded
from server.ids import object_id
from server.pagination import encode_cursor, older_than
from server.practice import effects, marking
from server.practice.building import build
from server.practice.errors import (
    invalid_field,
    question_not_in_test,
    test_ended,
    test_not_found,
)
from server.practice.schemas import AnswerSave, AnswerSaved, MockTestSummary
from server.progress.hooks import Notifier
from server.progress.service import ProgressService
from server.users import service as users

log = logging.getLogger("starguide.practice")

_END_TRIES: Final = 20
# An ended test whose effects are still missing this long after its end is finished by the
# next read or sweep (its ender crashed, or is still at it).
EFFECTS_RETRY_AFTER: Final = timedelta(seconds=30)
SWEEP_BATCH: Final = 100
# A list row: the summary's fields, no questions, answers or per-question results.
_LIST_PROJECTION: Final = dict.fromkeys(
    (
        "exam",
        "pattern",
        "assignment_id",
        "question_count",
        "marking",
        "duration_minutes",
        "started_at",
        "ends_at",
        "status",
        "score",
        "result.percentile",
        "created_at",
    ),
    1,
)

__all__ = ["Practice", "build"]


@dataclass(frozen=True, slots=True)
class Practice:
    """What ending a test needs besides the database: the progress service (XP, streak) and
    the notifier (`test:ended`), and the grace after `ends_at` for answers in flight."""

    progress: ProgressService
    notifier: Notifier | None
    grace: timedelta = timedelta(seconds=5)

    def closed(self, test: MockTest, now: datetime) -> bool:
        return now >= test.ends_at + self.grace


def _scope(user: User, test_id: str) -> dict[str, Any]:
    return {"_id": object_id(test_id, test_not_found), "user_id": user.id}


async def _percentile(test: MockTest, score: float) -> tuple[float | None, int]:
    """NTA-style: the share of the organization's takers of the same pattern scoring at most
    this (this test included), two counts on the (org_id, pattern, status, score) index.
    Custom tests (chosen topics) compare with nothing: None."""
    if test.pattern == "custom":
        return None, 0
    collection = MockTest.get_pymongo_collection()
    scope = {"org_id": test.org_id, "pattern": test.pattern, "status": "submitted"}
    total = await collection.count_documents(scope)
    at_most = await collection.count_documents(scope | {"score": {"$lte": score}})
    return round(100 * (at_most + 1) / (total + 1), 2), total + 1


async def _notify(practice: Practice, test: MockTest) -> None:
    if practice.notifier is None or test.result is None or test.submitted_at is None:
        return
    event = MockTestEnded(
        test_id=str(test.id),
        reason=test.end_reason or "submitted",
        score=test.result.score,
        max_score=test.result.max_score,
        submitted_at=test.submitted_at,
    )
    try:
        await practice.notifier.to_user(str(test.user_id), event)
    except Exception:
        log.exception("test:ended notification failed")


async def _apply_effects(test: MockTest, user: User | None, practice: Practice) -> None:
    """Mastery, memory, streak and XP for an ended test (idempotent, see `effects`)."""
    owner = user or await users.get_user(user_id=test.user_id)
    if owner is not None:  # an erased learner's tests go with them
        await effects.apply(test=test, user=owner, progress=practice.progress)


async def _end(
    test: MockTest, practice: Practice, reason: EndReason, now: datetime, user: User | None
) -> MockTest:
    """Stores the result by compare-and-set. The winner applies the effects, then tells the
    learner (`test:ended`, once per test). Returns the ended test."""
    collection = MockTest.get_pymongo_collection()
    # A test the clock ended ended at its time, however late a read or sweep noticed it
    # (what an assignment's lateness and the XP's day go by).
    ended_at = min(now, test.ends_at) if reason == "time_up" else now
    for _ in range(_END_TRIES):
        if test.status == "submitted":
            return test
        unscored = marking.score(test.items, test.answers, test.marking)
        percentile, takers = await _percentile(test, unscored.score)
        result = unscored.model_copy(update={"percentile": percentile, "takers": takers})
        written = await collection.find_one_and_update(
            {"_id": test.id, "status": "in_progress", "answers_version": test.answers_version},
            {
                "$set": {
                    "status": "submitted",
                    "submitted_at": ended_at,
                    "end_reason": reason,
                    "score": result.score,
                    "result": result.model_dump(),
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if written is not None:
            ended = MockTest.model_validate(written)
            try:
                await _apply_effects(ended, user, practice)
            finally:
                await _notify(practice, ended)
            return ended
        # An answer arrived (score again) or someone else ended it (take theirs).
        raw = await collection.find_one({"_id": test.id})
        if raw is None:
            raise test_not_found()  # erased meanwhile
        test = MockTest.model_validate(raw)
    raise test_ended()  # answers kept racing in a test past its end: cannot happen after grace


async def _settle(test: MockTest, user: User | None, practice: Practice, now: datetime) -> MockTest:
    """A read's check: an open test past its end (+ grace) is ended by the server, and an
    ended test whose effects went missing (its ender crashed, or is still at it) gets them."""
    if test.status == "in_progress" and practice.closed(test, now):
        return await _end(test, practice, "time_up", now, user)
    if test.status == "submitted" and test.effects_applied_at is None:
        await _apply_effects(test, user, practice)
    return test


async def _load(user: User, test_id: str) -> MockTest:
    test = await MockTest.find_one(_scope(user, test_id))
    if test is None:
        raise test_not_found()
    return test


async def get(*, user: User, test_id: str, practice: Practice) -> MockTest:
    now = utcnow()
    return await _settle(await _load(user, test_id), user, practice, now)


async def submit(*, user: User, test_id: str, practice: Practice) -> PaperResult:
    """Ends the test (or finds it ended) and answers with its stored result; the effects are
    applied before answering, so the learner's XP and mastery already show them."""
    now = utcnow()
    test = await _load(user, test_id)
    if test.status == "in_progress":
        reason: EndReason = "time_up" if practice.closed(test, now) else "submitted"
        test = await _end(test, practice, reason, now, user)
    if test.effects_applied_at is None:  # ended by a concurrent call still applying them
        await _apply_effects(test, user, practice)
    assert test.result is not None
    return test.result


async def save_answer(
    *, user: User, test_id: str, question_id: str, body: AnswerSave, practice: Practice
) -> AnswerSaved:
    """One atomic write (see the module's docstring); a refused write is then explained by
    one read: not the caller's test (404), ended (409), not in the test or no such option."""
    now = utcnow()
    scope = _scope(user, test_id)
    qid = str(object_id(question_id, question_not_in_test))
    option = body.option
    spent_sent = round(body.time_spent_ms) if body.time_spent_ms is not None else None
    saved = SavedAnswer(option=option, time_spent_ms=spent_sent or 0, saved_at=now)
    has_option = {"$gt": option} if option is not None else {"$exists": True}
    fields: dict[str, Any]
    if spent_sent is None:
        # No time sent: the time saved before stays (a new answer starts at 0, the model's
        # default); option and stamp are set, still in the one write.
        fields = {f"answers.{qid}.option": option, f"answers.{qid}.saved_at": now}
    else:
        fields = {f"answers.{qid}": saved.model_dump()}
    written = await MockTest.get_pymongo_collection().find_one_and_update(
        scope
        | {
            "status": "in_progress",
            "ends_at": {"$gt": now - practice.grace},
            f"option_counts.{qid}": has_option,
        },
        {"$set": fields, "$inc": {"answers_version": 1}},
        projection={f"answers.{qid}": 1},
        return_document=ReturnDocument.AFTER,
    )
    if written is not None:
        spent = int(written.get("answers", {}).get(qid, {}).get("time_spent_ms", 0) or 0)
        return AnswerSaved(question_id=qid, option=option, time_spent_ms=spent, saved_at=now)
    test = await _load(user, test_id)
    if test.status != "in_progress" or practice.closed(test, now):
        await _settle(test, user, practice, now)
        raise test_ended()
    count = test.option_counts.get(qid)
    if count is None:
        raise question_not_in_test()
    raise invalid_field(
        "option", f"The option must be between 0 and {count - 1}.", code="option_out_of_range"
    )


async def list_mine(
    *, user: User, limit: int, cursor: str | None, practice: Practice
) -> tuple[list[MockTestSummary], str | None]:
    """The learner's tests, newest first, without their questions; open tests past their end
    on the page are ended first (a read's check)."""
    now = utcnow()
    query: dict[str, Any] = {"user_id": user.id}
    if cursor:
        query |= older_than("created_at", cursor)
    rows = (
        await MockTest.get_pymongo_collection()
        .find(query, projection=_LIST_PROJECTION)
        .sort([("created_at", -1), ("_id", -1)])
        .limit(limit + 1)
        .to_list()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    page: list[MockTestSummary] = []
    for raw in rows:
        if raw["status"] == "in_progress" and now >= raw["ends_at"] + practice.grace:
            full = await MockTest.get(raw["_id"])
            if full is not None:
                page.append(MockTestSummary.from_doc(await _settle(full, user, practice, now)))
                continue
        page.append(MockTestSummary.from_row(raw))
    next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["_id"]) if more else None
    return page, next_cursor


async def sweep(*, practice: Practice, now: datetime | None = None) -> int:
    """Ends open tests past their end (+ grace) and finishes ended tests whose effects went
    missing; at most `SWEEP_BATCH` of each per call (index status_due). Every instance may
    run it: ending is a compare-and-set and the effects are idempotent."""
    now = now or utcnow()
    collection = MockTest.get_pymongo_collection()
    handled = 0
    overdue = collection.find(
        {
            "status": "in_progress",
            "effects_applied_at": None,
            "ends_at": {"$lt": now - practice.grace},
        }
    ).limit(SWEEP_BATCH)
    stalled = collection.find(
        {
            "status": "submitted",
            "effects_applied_at": None,
            "submitted_at": {"$lt": now - EFFECTS_RETRY_AFTER},
        }
    ).limit(SWEEP_BATCH)
    for cursor in (overdue, stalled):
        async for raw in cursor:
            try:
                await _settle(MockTest.model_validate(raw), None, practice, now)
                handled += 1
            except Exception:
                log.exception("ending a test failed", extra={"test_id": str(raw["_id"])})
    return handled
