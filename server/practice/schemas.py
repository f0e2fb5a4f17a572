"""API shapes of mock tests and assignments. A test's questions go out without their answers
and explanations (`MockQuestionPublic` has no such field): those come only in the result."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from models import Assignment, MockTest
from models.assignment import AssignmentKind
from models.mock_test import EndReason, Marking, PaperResult, PaperStatus
from server.practice.patterns import MAX_DURATION_MINUTES, MAX_QUESTIONS
from server.schemas import RequestModel

TopicId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=100)]
IdText = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class MockTestCreate(RequestModel):
    exam: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] = (
        Field(description='JEE, NEET or UPSC ("JEE Main" counts as JEE).')
    )
    topics: Annotated[list[TopicId], Field(max_length=50)] | None = Field(
        default=None,
        description="A custom test on these syllabus topics (of the exam); empty or absent: "
        "the exam's pattern.",
    )
    # Capped, not refused (the contract: "capped by the bank"): a pattern scales up or down
    # to it, a test asks at most MAX_QUESTIONS, and never more than the bank has.
    questions: Annotated[int, Field(strict=True, ge=1, le=1_000_000)] | None = Field(
        default=None,
        description="Default: the exam's pattern (custom tests: 30); another count scales "
        f"the pattern; capped at {MAX_QUESTIONS} and by the bank.",
    )
    duration_minutes: Annotated[int, Field(strict=True, ge=1, le=MAX_DURATION_MINUTES)] | None = (
        Field(default=None, description="Default: the pattern's time per question.")
    )
    assignment_id: IdText | None = Field(
        default=None, description="A `test` assignment of one of the caller's groups."
    )


class AnswerSave(RequestModel):
    option: Annotated[int, Field(strict=True, ge=0)] | None = Field(
        description="The chosen option's index; null clears the answer."
    )
    # A float too: browsers time with `performance.now()` (fractional milliseconds); rounded.
    time_spent_ms: Annotated[float, Field(strict=True, ge=0, le=86_400_000)] | None = Field(
        default=None,
        description="Total time spent on this question so far, in ms (it replaces; rounded).",
    )


class MockQuestionPublic(BaseModel):
    id: str
    text: str
    options: list[str]
    topic_id: str
    subject: str
    difficulty: str


class SectionPublic(BaseModel):
    name: str
    questions: list[MockQuestionPublic]


class SavedAnswerPublic(BaseModel):
    question_id: str
    option: int | None
    time_spent_ms: int


class MockTestPublic(BaseModel):
    id: str
    exam: str
    pattern: str
    assignment_id: str | None
    sections: list[SectionPublic]
    duration_minutes: int
    started_at: datetime
    ends_at: datetime
    marking: Marking
    status: PaperStatus
    answers: list[SavedAnswerPublic] = Field(description="What the learner has saved so far.")
    submitted_at: datetime | None
    end_reason: EndReason | None = Field(description="`time_up` when the server ended it.")
    result: PaperResult | None = Field(description="Set once the test has ended.")

    @classmethod
    def from_doc(cls, test: MockTest) -> MockTestPublic:
        sections: dict[str, list[MockQuestionPublic]] = {}
        for item in test.items:
            sections.setdefault(item.section, []).append(
                MockQuestionPublic(
                    id=str(item.question_id),
                    text=item.stem,
                    options=list(item.options),
                    topic_id=item.topic_id,
                    subject=item.subject,
                    difficulty=item.difficulty,
                )
            )
        return cls(
            id=str(test.id),
            exam=test.exam,
            pattern=test.pattern,
            assignment_id=str(test.assignment_id) if test.assignment_id else None,
            sections=[SectionPublic(name=n, questions=qs) for n, qs in sections.items()],
            duration_minutes=test.duration_minutes,
            started_at=test.started_at,
            ends_at=test.ends_at,
            marking=test.marking,
            status=test.status,
            answers=[
                SavedAnswerPublic(question_id=qid, option=a.option, time_spent_ms=a.time_spent_ms)
                for qid, a in test.answers.items()
            ],
            submitted_at=test.submitted_at,
            end_reason=test.end_reason,
            result=test.result,
        )


class MockTestSummary(BaseModel):
    """A test in the learner's list: no questions."""

    id: str
    exam: str
    pattern: str
    assignment_id: str | None
    questions: int
    duration_minutes: int
    started_at: datetime
    ends_at: datetime
    status: PaperStatus
    score: float | None
    max_score: float
    percentile: float | None

    @classmethod
    def from_doc(cls, test: MockTest) -> MockTestSummary:
        return cls(
            id=str(test.id),
            exam=test.exam,
            pattern=test.pattern,
            assignment_id=str(test.assignment_id) if test.assignment_id else None,
            questions=test.question_count,
            duration_minutes=test.duration_minutes,
            started_at=test.started_at,
            ends_at=test.ends_at,
            status=test.status,
            score=test.score,
            max_score=round(test.question_count * test.marking.correct, 2),
            percentile=test.result.percentile if test.result else None,
        )

    @classmethod
    def from_row(cls, raw: dict[str, Any]) -> MockTestSummary:
        """A list row as projected by the service (no items)."""
        marking = Marking.model_validate(raw["marking"])
        result = raw.get("result") or {}
        return cls(
            id=str(raw["_id"]),
            exam=raw["exam"],
            pattern=raw["pattern"],
            assignment_id=str(raw["assignment_id"]) if raw.get("assignment_id") else None,
            questions=raw["question_count"],
            duration_minutes=raw["duration_minutes"],
            started_at=raw["started_at"],
            ends_at=raw["ends_at"],
            status=raw["status"],
            score=raw.get("score"),
            max_score=round(raw["question_count"] * marking.correct, 2),
            percentile=result.get("percentile"),
        )


class AnswerSaved(BaseModel):
    question_id: str
    option: int | None
    time_spent_ms: int
    saved_at: datetime


# ---- assignments --------------------------------------------------------------------------------
class AssignmentCreate(RequestModel):
    title: Title
    kind: AssignmentKind
    topic_ids: Annotated[list[TopicId], Field(max_length=50)] | None = None
    questions: Annotated[int, Field(strict=True, ge=1, le=MAX_QUESTIONS)] | None = Field(
        default=None,
        description="`test`: the test's length; `topic`: quiz answers needed (default 10).",
    )
    exam: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None
    ) = Field(default=None, description="`test`: the exam whose pattern and marking the test uses.")
    due_at: datetime


CompletionStatus = Literal["pending", "completed", "late", "missed"]


class Completion(BaseModel):
    status: CompletionStatus = Field(
        description="`completed` on time, `late` completed after `due_at`, `missed` not "
        "completed and past due, `pending` otherwise."
    )
    completed_at: datetime | None
    done: int = Field(description="Tests submitted (0 or 1) or quiz answers counted so far.")
    needed: int
    test_id: str | None = Field(description="`test`: the submitted test that completed it.")


class AssignmentPublic(BaseModel):
    id: str
    group_id: str
    title: str
    kind: AssignmentKind
    exam: str | None
    topic_ids: list[str]
    questions: int | None
    due_at: datetime
    created_at: datetime

    @classmethod
    def from_doc(cls, a: Assignment) -> AssignmentPublic:
        return cls(
            id=str(a.id),
            group_id=str(a.group_id),
            title=a.title,
            kind=a.kind,
            exam=a.exam,
            topic_ids=list(a.topic_ids),
            questions=a.questions,
            due_at=a.due_at,
            created_at=a.created_at,
        )


class MyAssignment(AssignmentPublic):
    completion: Completion


class MemberCompletion(BaseModel):
    user_id: str
    display_name: str
    completion: Completion


class AssignmentReport(AssignmentPublic):
    members: list[MemberCompletion] = Field(
        description="Every member (not mentors), in join order."
    )
    late: list[str] = Field(description="User ids of members who are late or missed it.")
