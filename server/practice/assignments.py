"""Assignments: a group's mentor sets a test or topic practice with a due date; members see
theirs; the mentor sees who has done what and who is late (docs/PRACTICE.md).

Completion is derived, never stored: a `test` assignment is done by the learner's first
submitted test started for it (`POST /tests {assignment_id}`), at its `submitted_at`; a
`topic` assignment by `questions` (default 10) quiz answers on its topics since the
assignment was set, at the moment of the last one needed. Nothing can mark it done without
the work, and nothing needs keeping in step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from beanie import PydanticObjectId

from models import Assignment, StudyGroup, User
from models.common import utcnow
from server.errors import Forbidden
from server.events import AssignmentNew
from server.groups import service as groups
from server.ids import object_id
from server.memory.taxonomy import load_taxonomy
from server.pagination import newest_first
from server.practice import store
from server.practice.errors import assignment_not_found, invalid_field
from server.practice.patterns import PATTERNS, exam_key
from server.practice.schemas import (
    AssignmentCreate,
    AssignmentPublic,
    AssignmentReport,
    Completion,
    MemberCompletion,
    MyAssignment,
)
from server.progress.hooks import Notifier
from server.quiz import service as quiz
from server.users import service as users

log = logging.getLogger("starguide.practice")

TOPIC_ANSWERS_DEFAULT: Final = 10


def _utc(at: datetime) -> datetime:
    """A naive time is taken as UTC (the contract's times are UTC)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def check_topics(topic_ids: Sequence[str], *, exam: str | None, field: str = "topics") -> list[str]:
    """Known syllabus topics (of `exam`'s subjects when given), duplicates dropped; 422
    `unknown_topic` naming the first that is not."""
    taxonomy = load_taxonomy()
    for topic_id in topic_ids:
        topic = taxonomy.get(topic_id)
        if topic is None or (
            exam is not None and exam not in taxonomy.subjects[topic.subject].exams
        ):
            where = f" of {exam}" if exam else ""
            raise invalid_field(
                field, f"{topic_id!r} is not a syllabus topic{where}.", code="unknown_topic"
            )
    return list(dict.fromkeys(topic_ids))


async def create(
    *, user: User, group_id: str, body: AssignmentCreate, notifier: Notifier | None
) -> Assignment:
    group = await groups.get_visible(user=user, group_id=group_id)
    if not groups.can_manage(user, group):
        raise Forbidden("Only the group's mentors set assignments.", code="forbidden")
    exam = None
    if body.exam is not None:
        exam = exam_key(body.exam)
        if exam is None:
            raise invalid_field("exam", f"Known exams: {', '.join(PATTERNS)}.", code="unknown_exam")
    topics = check_topics(body.topic_ids or [], exam=exam, field="topic_ids")
    if body.kind == "topic" and not topics:
        raise invalid_field(
            "topic_ids", "A topic assignment needs topic_ids.", code="topic_ids_required"
        )
    due_at = _utc(body.due_at)
    if due_at <= utcnow():
        raise invalid_field("due_at", "The due date must be in the future.", code="due_in_past")
    assert user.id is not None and group.id is not None
    assignment = Assignment(
        org_id=group.org_id,
        group_id=group.id,
        created_by=user.id,
        title=body.title,
        kind=body.kind,
        exam=exam,
        topic_ids=topics,
        questions=body.questions,
        due_at=due_at,
    )
    await assignment.insert()
    await _announce(assignment, group, notifier)
    return assignment


async def _announce(assignment: Assignment, group: StudyGroup, notifier: Notifier | None) -> None:
    """`assignment:new` to every member's room, after the write; a failed emit loses nothing
    (members see it in GET /assignments)."""
    if notifier is None:
        return
    event = AssignmentNew(
        id=str(assignment.id),
        group_id=str(group.id),
        group_name=group.name,
        title=assignment.title,
        kind=assignment.kind,
        due_at=assignment.due_at,
    )
    for member in group.members:
        if member.role != "member":
            continue
        try:
            await notifier.to_user(str(member.user_id), event)
        except Exception:
            log.exception("assignment notification failed")


async def for_member(*, user: User, assignment_id: str) -> Assignment:
    """An assignment of one of the caller's groups; anyone else's is not found."""
    assert user.id is not None
    oid = object_id(assignment_id, assignment_not_found)
    group_ids = await groups.member_group_ids(user_id=user.id)
    found = await Assignment.find_one({"_id": oid, "group_id": {"$in": group_ids}})
    if found is None:
        raise assignment_not_found()
    return found


def _needed(assignment: Assignment) -> int:
    if assignment.kind == "test":
        return 1
    return assignment.questions or TOPIC_ANSWERS_DEFAULT


def _completion(
    assignment: Assignment,
    *,
    done: int,
    completed_at: datetime | None,
    test_id: PydanticObjectId | None,
    now: datetime,
) -> Completion:
    due = _utc(assignment.due_at)
    if completed_at is None:
        status = "missed" if now > due else "pending"
    else:
        status = "late" if _utc(completed_at) > due else "completed"
    return Completion(
        status=status,
        completed_at=completed_at,
        done=done,
        needed=_needed(assignment),
        test_id=str(test_id) if test_id else None,
    )


async def completions(
    assignment: Assignment, user_ids: Sequence[PydanticObjectId], *, now: datetime
) -> dict[PydanticObjectId, Completion]:
    """Each learner's completion of the assignment: one query for a test assignment, one
    per learner for a topic one (index user_id, topic_id, created_at of quiz answers)."""
    result: dict[PydanticObjectId, Completion] = {}
    if assignment.kind == "test":
        assert assignment.id is not None
        submitted = await store.submitted_for_assignment(assignment=assignment, user_ids=user_ids)
        for uid in user_ids:
            s = submitted.get(uid)
            result[uid] = _completion(
                assignment,
                done=int(s is not None),
                completed_at=s.submitted_at if s else None,
                test_id=s.test_id if s else None,
                now=now,
            )
        return result
    needed = _needed(assignment)
    for uid in user_ids:
        times = await quiz.answer_times(
            user_id=uid, topic_ids=assignment.topic_ids, since=assignment.created_at, limit=needed
        )
        result[uid] = _completion(
            assignment,
            done=len(times),
            completed_at=times[-1] if len(times) >= needed else None,
            test_id=None,
            now=now,
        )
    return result


async def list_mine(
    *, user: User, limit: int, cursor: str | None, now: datetime | None = None
) -> tuple[list[MyAssignment], str | None]:
    """The assignments of the caller's groups, newest first, each with their completion."""
    assert user.id is not None
    now = now or utcnow()
    group_ids = await groups.member_group_ids(user_id=user.id)
    query: dict[str, Any] = {"group_id": {"$in": group_ids}}
    page, next_cursor = await newest_first(
        Assignment, query, "created_at", limit=limit, cursor=cursor
    )
    items = []
    for assignment in page:
        mine = (await completions(assignment, [user.id], now=now))[user.id]
        items.append(MyAssignment(**_public_fields(assignment), completion=mine))
    return items, next_cursor


def _public_fields(a: Assignment) -> dict[str, Any]:
    return AssignmentPublic.from_doc(a).model_dump()


async def report(
    *, user: User, group_id: str, assignment_id: str, now: datetime | None = None
) -> AssignmentReport:
    """A mentor's view: every member's completion, and who is late (late or missed)."""
    now = now or utcnow()
    group = await groups.get_visible(user=user, group_id=group_id)
    if not groups.can_manage(user, group):
        raise Forbidden("Only the group's mentors see members' completion.", code="forbidden")
    oid = object_id(assignment_id, assignment_not_found)
    assignment = await Assignment.find_one({"_id": oid, "group_id": group.id})
    if assignment is None:
        raise assignment_not_found()
    members = [m for m in group.members if m.role == "member"]
    names = await users.display_names(user_ids=[m.user_id for m in members])
    present = [m for m in members if m.user_id in names]  # erased accounts drop out
    done = await completions(assignment, [m.user_id for m in present], now=now)
    rows = [
        MemberCompletion(
            user_id=str(m.user_id), display_name=names[m.user_id], completion=done[m.user_id]
        )
        for m in present
    ]
    return AssignmentReport(
        **_public_fields(assignment),
        members=rows,
        late=[r.user_id for r in rows if r.completion.status in ("late", "missed")],
    )
