"""Question management: an organization's mentors and admins write, edit, publish, retire and
list their organization's questions (docs/PRACTICE.md, "Questions").

The shared global bank (`org_id` None) is read-only here: it is the bank file's, synced by
`server.quiz.bank`. Every write is one atomic MongoDB operation: a create is one insert (two
racing creates of the same question store one, by the unique `(org_id, fingerprint)` index), an
edit is a compare-and-set on `updated_at`, so two mentors editing at once never merge halves.
Audit entries carry ids only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from models import Question, User
from models.common import utcnow
from models.question import Difficulty, QuestionSource, QuestionStatus
from server.audit import service as audit_service
from server.errors import Conflict, Forbidden, ValidationFailed
from server.ids import object_id
from server.memory.taxonomy import load_taxonomy
from server.pagination import newest_first
from server.quiz.authoring_schemas import QuestionCreate, QuestionUpdate, RowError
from server.quiz.errors import question_not_found
from server.quiz.visibility import fingerprint, normalise

MANAGERS: Final = ("mentor", "admin")
_EDIT_TRIES: Final = 5
_REQUIRED: Final = frozenset({"topic_id", "difficulty", "stem", "options", "answer", "explanation"})


def ensure_manager(user: User) -> None:
    """Only an organization's mentors and admins manage its questions."""
    if not is_manager(user):
        raise Forbidden("Only mentors and admins manage questions.", code="forbidden")


def duplicate_question() -> Conflict:
    return Conflict(
        "The same question is already in the bank or your organization's questions.",
        code="duplicate_question",
    )


def content_problems(*, topic_id: str, options: Sequence[str]) -> list[RowError]:
    """What request validation cannot see: a topic the syllabus does not know, and options
    that are the same once case, spacing and punctuation are ignored."""
    problems = []
    if load_taxonomy().get(topic_id) is None:
        problems.append(
            RowError(field="topic_id", message=f"Unknown topic {topic_id!r}.", type="unknown_topic")
        )
    if len({normalise(o) for o in options}) != len(options):
        problems.append(
            RowError(field="options", message="The options must differ.", type="duplicate_options")
        )
    return problems


def _refuse(problems: list[RowError]) -> ValidationFailed:
    first = problems[0]
    return ValidationFailed(
        first.message,
        code=first.type,
        details={"fields": [p.model_dump() for p in problems]},
    )


def new_question(
    *,
    org_id: PydanticObjectId,
    created_by: PydanticObjectId | None,
    topic_id: str,
    difficulty: Difficulty,
    stem: str,
    options: Sequence[str],
    answer: int,
    explanation: str,
    status: QuestionStatus = "draft",
    source: QuestionSource | None = None,
) -> Question:
    """An organization's question (not yet stored), its subject and exams from the syllabus:
    the caller has checked `content_problems`."""
    topic = load_taxonomy().get(topic_id)
    assert topic is not None, "content_problems first"
    subject = load_taxonomy().subjects[topic.subject]
    now = utcnow()
    return Question(
        key=f"org-{org_id}-{uuid.uuid4().hex[:16]}",
        exams=sorted(subject.exams),
        subject=topic.subject,
        topic_id=topic_id,
        difficulty=difficulty,
        stem=stem,
        options=list(options),
        answer=answer,
        explanation=explanation,
        org_id=org_id,
        status=status,
        source=source,
        created_by=created_by,
        fingerprint=fingerprint(stem, options),
        created_at=now,
        updated_at=now,
    )


def from_body(user: User, body: QuestionCreate) -> Question:
    problems = content_problems(topic_id=body.topic_id, options=body.options)
    if problems:
        raise _refuse(problems)
    return new_question(
        org_id=user.org_id,
        created_by=user.id,
        topic_id=body.topic_id,
        difficulty=body.difficulty,
        stem=body.stem,
        options=body.options,
        answer=body.answer,
        explanation=body.explanation,
        status=body.status,
        source=QuestionSource(**body.source.model_dump()) if body.source else None,
    )


async def existing_fingerprints(
    org_id: PydanticObjectId,
    fingerprints: Sequence[str],
    *,
    exclude: PydanticObjectId | None = None,
) -> set[str]:
    """Which of these fingerprints an active question of the global bank or the organization
    already has (served by the `fingerprint` index)."""
    if not fingerprints:
        return set()
    query: dict[str, Any] = {
        "fingerprint": {"$in": list(set(fingerprints))},
        "org_id": {"$in": [None, org_id]},
        "active": True,
    }
    if exclude is not None:
        query["_id"] = {"$ne": exclude}
    cursor = Question.get_pymongo_collection().find(query, projection={"fingerprint": 1})
    return {raw["fingerprint"] async for raw in cursor}


async def insert_checked(question: Question) -> bool:
    """Stores the question unless it duplicates one (the bank's, or the organization's: the
    unique index decides a race); False for a duplicate."""
    assert question.org_id is not None and question.fingerprint is not None
    if await existing_fingerprints(question.org_id, [question.fingerprint]):
        return False
    try:
        await question.insert()
    except DuplicateKeyError:
        return False
    return True


async def create(*, user: User, body: QuestionCreate) -> Question:
    ensure_manager(user)
    question = from_body(user, body)
    if not await insert_checked(question):
        raise duplicate_question()
    await _audit(user, "question.create", question)
    if question.status == "published":
        await _audit(user, "question.publish", question)
    return question


async def get_own(*, user: User, question_id: str) -> Question:
    """A question of the caller's organization; the global bank's, another organization's or
    a malformed id are all 404 (nothing to probe)."""
    ensure_manager(user)
    query = {"_id": object_id(question_id, question_not_found), "org_id": user.org_id}
    question = await Question.find_one(query)
    if question is None:
        raise question_not_found()
    return question


def is_manager(user: User) -> bool:
    return user.role in MANAGERS


async def get_readable(*, user: User, question_id: str) -> Question:
    """`GET /questions/{id}`: mentors and admins read their organization's active questions,
    learners its published active ones only (the contract: "learners only ever see published
    ones"; the route leaves the answer out for them). Anything else is 404."""
    question: Question | None
    if is_manager(user):
        question = await get_own(user=user, question_id=question_id)
    else:
        query = {
            "_id": object_id(question_id, question_not_found),
            "org_id": user.org_id,
            "status": {"$ne": "draft"},
        }
        question = await Question.find_one(query)
    if question is None or not question.active:  # DELETEd (retired): gone for clients
        raise question_not_found()
    return question


async def list_own(
    *,
    user: User,
    topic: str | None,
    status: QuestionStatus | None,
    active: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Question], str | None]:
    """The organization's own questions, newest first (indexes `org_recent`,
    `org_topic_recent`); the global bank is not listed (it is the same for everyone).
    Learners list the published active ones only (never a draft or a retired one)."""
    if not is_manager(user):
        if status == "draft" or active is False:
            return [], None
        status, active = "published", True
    query: dict[str, Any] = {"org_id": user.org_id}
    if topic is not None:
        query["topic_id"] = topic
    if status == "published":
        query["status"] = {"$ne": "draft"}
    elif status == "draft":
        query["status"] = "draft"
    # Retired questions are listed only when asked for (`active=false`): a client that
    # DELETEd a question does not see it again.
    query["active"] = True if active is None else active
    return await newest_first(Question, query, "created_at", limit=limit, cursor=cursor)


def _changes(body: QuestionUpdate) -> dict[str, Any]:
    """The fields sent; `null` only clears `source` (the others cannot be empty)."""
    changes: dict[str, Any] = {}
    nulls = []
    for field in body.model_fields_set:
        value = getattr(body, field)
        if value is None and field != "source":
            nulls.append(field)
        elif field == "source":
            changes["source"] = value.model_dump() if value is not None else None
        else:
            changes[field] = value
    if nulls:
        raise ValidationFailed(
            "These fields cannot be null.",
            details={
                "fields": [
                    {"field": f, "message": "may not be null", "type": "null"}
                    for f in sorted(nulls)
                ]
            },
        )
    return changes


def _actions(current: Question, changes: dict[str, Any]) -> list[str]:
    actions = []
    if changes.get("status", current.status) != current.status:
        actions.append(f"question.{'publish' if changes['status'] == 'published' else 'unpublish'}")
    if changes.get("active", current.active) != current.active:
        actions.append("question.retire" if changes["active"] is False else "question.restore")
    if _REQUIRED.union({"source"}) & set(changes):
        actions.append("question.update")
    return actions


async def update(*, user: User, question_id: str, body: QuestionUpdate) -> Question:
    """Applies the sent fields by compare-and-set on `updated_at`: a concurrent edit makes
    this one re-read and re-check (up to a few times, then 409 `question_busy`)."""
    changes = _changes(body)
    for attempt in range(_EDIT_TRIES):
        current = await get_own(user=user, question_id=question_id)
        if not changes:
            return current
        merged = {**current.model_dump(include=set(_REQUIRED)), **changes}
        problems = content_problems(topic_id=merged["topic_id"], options=merged["options"])
        if problems:
            raise _refuse(problems)
        # The stamp is the compare-and-set token, as MongoDB stores it (milliseconds): it
        # must move, even for an edit within the same millisecond as the last one.
        now = utcnow()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now <= current.updated_at:
            now = current.updated_at + timedelta(milliseconds=1)
        update_set = {**changes, "updated_at": now}
        update_set["fingerprint"] = fingerprint(merged["stem"], merged["options"])
        if "topic_id" in changes:
            topic = load_taxonomy().get(merged["topic_id"])
            assert topic is not None
            update_set["subject"] = topic.subject
            update_set["exams"] = sorted(load_taxonomy().subjects[topic.subject].exams)
        if changes.get("active", current.active) and (
            update_set["fingerprint"] != current.fingerprint or not current.active
        ):
            found = await existing_fingerprints(
                user.org_id, [update_set["fingerprint"]], exclude=current.id
            )
            if found:
                raise duplicate_question()
        try:
            written = await Question.get_pymongo_collection().update_one(
                {"_id": current.id, "org_id": user.org_id, "updated_at": current.updated_at},
                {"$set": update_set},
            )
        except DuplicateKeyError:
            raise duplicate_question() from None
        if written.matched_count:
            for action in _actions(current, changes):
                await _audit(user, action, current)
            return await get_own(user=user, question_id=question_id)
        await asyncio.sleep(0.01 * (attempt + 1))
    raise Conflict("The question is being edited; try again.", code="question_busy")


async def retire(*, user: User, question_id: str) -> None:
    """Retires (never deletes): past attempts and test results still show the question.
    Idempotent: retiring a retired question changes nothing."""
    question = await get_own(user=user, question_id=question_id)
    written = await Question.get_pymongo_collection().update_one(
        {"_id": question.id, "org_id": user.org_id, "active": True},
        {"$set": {"active": False, "updated_at": utcnow()}},
    )
    if written.modified_count:
        await _audit(user, "question.retire", question)


async def _audit(user: User, action: str, question: Question) -> None:
    await audit_service.record(
        action=action,
        actor_id=user.id,
        org_id=user.org_id,
        target_type="question",
        target_id=str(question.id),
    )
