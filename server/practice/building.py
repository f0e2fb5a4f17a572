"""Building a mock test: the pattern, then the questions drawn for this learner, copied into
the test so that it is scored against what was asked (docs/PRACTICE.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from models import Assignment, MockTest, User
from models.common import utcnow
from models.mock_test import PaperItem
from server.memory import service as memory
from server.memory.taxonomy import load_taxonomy
from server.practice import assignments, selection
from server.practice.errors import invalid_field, no_question
from server.practice.patterns import (
    MAX_QUESTIONS,
    PATTERNS,
    Pattern,
    custom,
    exam_key,
    minutes_for,
    scaled,
)
from server.practice.schemas import MockTestCreate
from server.quiz import service as quiz

CUSTOM_QUESTIONS_DEFAULT: Final = 30
WEAK_TOPICS_USED: Final = 20


def _pattern(exam: str, *, topics: list[str], questions: int | None) -> Pattern:
    base = PATTERNS[exam]
    if topics:
        taxonomy = load_taxonomy()
        subjects: dict[str, str] = {}
        for topic_id in topics:
            topic = taxonomy.get(topic_id)
            assert topic is not None  # checked by assignments.check_topics
            subjects.setdefault(topic.subject, taxonomy.subjects[topic.subject].name)
        return custom(
            base,
            subjects=list(subjects.items()),
            questions=questions or CUSTOM_QUESTIONS_DEFAULT,
        )
    return scaled(base, questions) if questions else base


async def _assignment(user: User, body: MockTestCreate) -> Assignment | None:
    if body.assignment_id is None:
        return None
    assignment = await assignments.for_member(user=user, assignment_id=body.assignment_id)
    if assignment.kind != "test":
        raise invalid_field(
            "assignment_id",
            "This assignment is topic practice, not a test.",
            code="assignment_not_a_test",
        )
    return assignment


async def _priorities(user: User, now: datetime) -> list[str]:
    """Due reviews first (earliest due first), then weak topics (weakest first)."""
    assert user.id is not None
    due = await quiz.due_topic_ids(user_id=user.id, now=now)
    weak = await memory.weak_topics(user.id, limit=WEAK_TOPICS_USED, now=now)
    return [*due, *(w.topic_id for w in weak)]


async def build(*, user: User, body: MockTestCreate, now: datetime | None = None) -> MockTest:
    """Stores a new test for the learner, started now. Questions come from the global bank
    and the learner's organization's published ones (quiz feature), each at most once."""
    assert user.id is not None
    now = now or utcnow()
    assignment = await _assignment(user, body)
    exam = exam_key(assignment.exam if assignment and assignment.exam else body.exam)
    if exam is None:
        raise invalid_field("exam", f"Known exams: {', '.join(PATTERNS)}.", code="unknown_exam")
    topic_list = (assignment.topic_ids if assignment and assignment.topic_ids else None) or (
        body.topics or []
    )
    topics = assignments.check_topics(topic_list, exam=exam)
    questions = (assignment.questions if assignment else None) or body.questions
    if questions is not None:
        questions = min(questions, MAX_QUESTIONS)  # capped, not refused
    pattern = _pattern(exam, topics=topics, questions=questions)
    subjects = sorted({s for section in pattern.sections for s in section.subjects})
    candidates = await quiz.test_candidates(
        org_id=user.org_id, exam=exam, subjects=subjects, topic_ids=topics or None
    )
    if questions and not topics:
        # Capped by the bank: a scaled pattern asks at most the exam's questions there are.
        available = len({c.id for c in candidates})
        if 0 < available < pattern.questions:
            pattern = scaled(PATTERNS[exam], available)
    drawn = selection.draw(
        candidates, pattern.sections, priority_topics=await _priorities(user, now)
    )
    chosen = [(section.name, c) for section, cs in drawn for c in cs]
    if not chosen:
        raise no_question()
    full = await quiz.questions_by_ids(ids=[c.id for _, c in chosen])
    items = []
    for section_name, c in chosen:
        q = full.get(c.id)
        if q is None:  # retired and deleted between the two reads: the test is one shorter
            continue
        ref = quiz.topic_ref(q.topic_id, q.subject)
        items.append(
            PaperItem(
                question_id=c.id,
                section=section_name,
                topic_id=ref.id,
                topic_name=ref.name,
                subject=q.subject,
                difficulty=q.difficulty,
                stem=q.stem,
                options=list(q.options),
                answer=q.answer,
                explanation=q.explanation,
            )
        )
    if not items:
        raise no_question()
    minutes = body.duration_minutes or (
        pattern.duration_minutes
        if len(items) == pattern.questions
        else minutes_for(PATTERNS[exam], len(items))
    )
    test = MockTest(
        user_id=user.id,
        org_id=user.org_id,
        exam=exam,
        pattern=pattern.id,
        assignment_id=assignment.id if assignment else None,
        items=items,
        option_counts={str(i.question_id): len(i.options) for i in items},
        question_count=len(items),
        marking=pattern.marking,
        duration_minutes=minutes,
        started_at=now,
        ends_at=now + timedelta(minutes=minutes),
        created_at=now,
    )
    return await test.insert()
