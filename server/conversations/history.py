"""Writing a past conversation (legacy history, demo chats) idempotently: the admin scripts'
way into the conversations feature (`scripts.import_profiles`, `seed --demo`).

A conversation has a stable id (the scripts' `stable_object_id`), and message n carries the
`client_message_id` "<prefix>:<n>", which the messages' partial unique index keeps to one copy
per conversation. A rerun therefore inserts nothing, and a longer history only appends the
messages past what is stored. Learner messages are tagged with topics exactly as the chat
service tags them, and the conversation's `message_count`, `last_message_at` and
`topics_seen` are kept as the chat service keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from beanie import PydanticObjectId
from pymongo.errors import BulkWriteError, DuplicateKeyError

from models import Conversation, Message, TopicRef, User
from models.common import utcnow
from server.memory.taxonomy import Taxonomy

_STEP = timedelta(milliseconds=1)  # keeps untimed messages in file order


@dataclass(frozen=True, slots=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str
    at: datetime | None = None


@dataclass(slots=True)
class HistoryPlan:
    """What syncing a history does: the conversation to create (if missing) and the
    messages past what is stored."""

    conversation_exists: bool
    new_messages: list[Message] = field(default_factory=list)
    stored: int = 0


@dataclass(slots=True)
class HistoryResult:
    conversation_created: bool
    inserted: list[Message]
    unchanged: int


def topics_of(taxonomy: Taxonomy, text: str, exam: str | None) -> list[TopicRef]:
    """The chat service's tagging of a learner message."""
    return [
        TopicRef(id=m.topic.id, name=m.topic.name, subject=m.topic.subject)
        for m in taxonomy.tag(text, exam=exam)
    ]


async def plan_history(
    *,
    user: User,
    conversation_id: PydanticObjectId,
    turns: Sequence[Turn],
    prefix: str,
    taxonomy: Taxonomy,
    start_at: datetime | None = None,
) -> HistoryPlan:
    """Reads what is stored and builds (without writing) the messages still missing."""
    assert user.id is not None
    exists = await Conversation.find_one({"_id": conversation_id}) is not None
    stored: dict[str, dict[str, Any]] = {}
    if exists:
        cursor = Message.get_pymongo_collection().find(
            {"conversation_id": conversation_id, "client_message_id": {"$regex": f"^{prefix}:"}},
            projection={"client_message_id": 1, "created_at": 1, "role": 1},
        )
        stored = {raw["client_message_id"]: raw async for raw in cursor}
    plan = HistoryPlan(conversation_exists=exists, stored=len(stored))
    previous: datetime | None = None
    last_question: PydanticObjectId | None = None
    base = start_at or utcnow()
    for n, turn in enumerate(turns):
        key = f"{prefix}:{n}"
        raw = stored.get(key)
        if raw is not None:
            previous = raw["created_at"]
            if raw.get("role") == "user":
                last_question = PydanticObjectId(raw["_id"])
            continue
        # Untimed messages follow the previous one; any message stays in file order.
        at = turn.at or (previous + _STEP if previous is not None else base)
        if previous is not None and at <= previous:
            at = previous + _STEP
        previous = at
        message = Message(
            id=PydanticObjectId(),
            conversation_id=conversation_id,
            author_id=user.id if turn.role == "user" else None,
            role=turn.role,
            content=turn.content,
            status="complete",
            client_message_id=key,
            parent_id=last_question if turn.role == "assistant" else None,
            topics=topics_of(taxonomy, turn.content, user.profile.exam)
            if turn.role == "user"
            else [],
            created_at=at,
            updated_at=at,
            completed_at=at if turn.role == "assistant" else None,
        )
        if turn.role == "user":
            last_question = message.id
        plan.new_messages.append(message)
    return plan


async def write_history(
    *, user: User, conversation_id: PydanticObjectId, title: str, plan: HistoryPlan
) -> HistoryResult:
    """Creates the conversation if missing, inserts the planned messages (a copy another run
    stored meanwhile is left alone) and brings the conversation's counters up to date."""
    assert user.id is not None
    created = False
    messages = plan.new_messages
    if not plan.conversation_exists:
        first = messages[0].created_at if messages else utcnow()
        tagged = next((m.topics for m in messages if m.topics), [])
        try:
            await Conversation(
                id=conversation_id,
                user_id=user.id,
                org_id=user.org_id,
                title=title,
                title_set_by_user=True,  # automatic titles must not replace it
                subject=tagged[0].subject if tagged else None,
                created_at=first,
                updated_at=first,
            ).insert()
            created = True
        except DuplicateKeyError:
            pass  # a concurrent run created it
    inserted = list(messages)
    if messages:
        try:
            await Message.insert_many(messages, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            lost = {e["index"] for e in errors}
            inserted = [m for i, m in enumerate(messages) if i not in lost]
    if inserted:
        inc: dict[str, int] = {}
        for message in inserted:
            for topic in message.topics:
                subject, _, slug = topic.id.partition(".")
                key = f"topics_seen.{subject}.{slug}"
                inc[key] = inc.get(key, 0) + 1
        count = await Message.get_pymongo_collection().count_documents(
            {"conversation_id": conversation_id}
        )
        latest = max(m.created_at for m in inserted)
        update: dict[str, Any] = {
            "$set": {"message_count": count},
            "$max": {"last_message_at": latest, "updated_at": latest},
        }
        if inc:
            update["$inc"] = inc
        await Conversation.get_pymongo_collection().update_one({"_id": conversation_id}, update)
    return HistoryResult(created, inserted, plan.stored + len(messages) - len(inserted))
