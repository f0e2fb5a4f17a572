from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow
from models.question import Difficulty

PaperStatus = Literal["in_progress", "submitted"]
EndReason = Literal["submitted", "time_up"]


class Marking(BaseModel):
    """Marks for a right, a wrong and an unanswered question (JEE Main: +4 / -1 / 0)."""

    correct: float
    wrong: float
    unanswered: float = 0.0


class PaperItem(BaseModel):
    """One question as it was when the test was built: the test is scored against this copy,
    so a mentor editing or retiring the question meanwhile never changes a running test."""

    question_id: PydanticObjectId
    section: str
    topic_id: str
    topic_name: str
    subject: str
    difficulty: Difficulty
    stem: str
    options: list[str]
    answer: int
    explanation: str


class SavedAnswer(BaseModel):
    option: int | None
    time_spent_ms: int = 0
    saved_at: datetime = Field(default_factory=utcnow)


class SectionResult(BaseModel):
    name: str
    score: float
    max_score: float
    correct: int
    wrong: int
    unanswered: int
    accuracy: float


class TopicResult(BaseModel):
    topic_id: str
    name: str
    subject: str
    correct: int
    wrong: int
    unanswered: int


class QuestionResult(BaseModel):
    id: str
    section: str
    topic_id: str
    chosen: int | None
    correct_option: int
    correct: bool
    explanation: str
    time_spent_ms: int


class PaperResult(BaseModel):
    """Stored once by the compare-and-set that ended the test: every later read is this."""

    score: float
    max_score: float
    correct: int
    wrong: int
    unanswered: int
    accuracy: float
    time_spent_ms: int
    sections: list[SectionResult]
    topics: list[TopicResult]
    questions: list[QuestionResult]
    percentile: float | None
    takers: int


class MockTest(Document):
    """One learner's timed mock test (docs/PRACTICE.md).

    `answers` is a map keyed by question id: an autosave is one `$set` of one key, filtered on
    the test still being open, so concurrent saves never overwrite each other's questions and
    the last save of one question is kept whole. `answers_version` is `$inc`ed with every
    save: ending the test is a compare-and-set on (status, answers_version), so the stored
    result always scores exactly the answers stored.
    """

    user_id: PydanticObjectId
    org_id: PydanticObjectId
    exam: str
    pattern: str  # jee_main, neet, upsc_prelims_gs or custom
    assignment_id: PydanticObjectId | None = None
    items: list[PaperItem]
    # Question id -> its number of options: the autosave's filter checks that the question is
    # in the test and the option exists (`option_counts.<id>` > option) without a read.
    option_counts: dict[str, int]
    question_count: int  # len(items), for lists that leave the items out
    marking: Marking
    duration_minutes: int
    started_at: datetime
    ends_at: datetime
    status: PaperStatus = "in_progress"
    answers: dict[str, SavedAnswer] = Field(default_factory=dict)
    answers_version: int = 0
    submitted_at: datetime | None = None
    end_reason: EndReason | None = None
    score: float | None = None  # the result's score at the top level, for the percentile index
    result: PaperResult | None = None
    # Set once mastery, memory, XP and the streak have taken the result in (each idempotent
    # on its own); the sweep finishes any test ended without it (a crash in between).
    effects_applied_at: datetime | None = None
    # Set by the one call that sends the learner-memory evidence and the badge counters (a
    # compare-and-set from None): those are increments, so they must go exactly once.
    signals_sent_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "mock_tests"
        indexes = [
            # Serves GET /tests (a learner's tests, newest first, keyset pages).
            IndexModel(
                [("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                name="user_recent",
            ),
            # Serves the sweep: open tests past their end, ended tests whose effects are due.
            IndexModel(
                [("status", ASCENDING), ("effects_applied_at", ASCENDING), ("ends_at", ASCENDING)],
                name="status_due",
            ),
            # Serves the percentile: two counts among an organization's submitted tests of one
            # pattern (all of them, and those scoring at most as much).
            IndexModel(
                [
                    ("org_id", ASCENDING),
                    ("pattern", ASCENDING),
                    ("status", ASCENDING),
                    ("score", ASCENDING),
                ],
                name="org_pattern_score",
            ),
            # Serves an assignment's completion: its submitted tests, per learner.
            IndexModel(
                [("assignment_id", ASCENDING), ("user_id", ASCENDING), ("status", ASCENDING)],
                partialFilterExpression={"assignment_id": {"$type": "objectId"}},
                name="assignment_user",
            ),
        ]
