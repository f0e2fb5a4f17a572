"""A conversation's messages and the counters they move: every query of `messages` made for
chat (storing an exchange, streaming a reply into its document, ending it), owned here.

The chat feature decides what happens; this module is how it is stored. The invariants the
indexes keep (models/message.py) are relied on here, not re-checked: a re-sent
`client_message_id` stores one copy, and one reply per learner message streams at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from beanie import PydanticObjectId, SortDirection
from beanie.odm.utils.dump import get_dict
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from models import Conversation, GenerationMeta, Message, MessageError, TopicRef, Usage, User
from models.common import utcnow
from models.message import Citation
from server.conversations import service as conversations
from server.errors import Conflict, NotFound
from server.ids import object_id
from server.mongo import GroupCommit

_counter_writes = GroupCommit(Conversation.get_pymongo_collection)


def message_not_found() -> NotFound:
    return NotFound("Message not found.", code="message_not_found")


@dataclass(frozen=True, slots=True)
class StoredExchange:
    question: Message
    reply: Message


def _new_reply(
    conversation_id: PydanticObjectId, question: Message, *, provider: str | None
) -> Message:
    now = utcnow()
    return Message(
        id=PydanticObjectId(),
        conversation_id=conversation_id,
        role="assistant",
        content="",
        status="streaming",
        parent_id=question.id,
        provider=provider,
        created_at=max(now, question.created_at),
        updated_at=now,
    )


# ---- storing -------------------------------------------------------------------------------
async def find_by_client_id(
    *, conversation_id: PydanticObjectId, client_message_id: str
) -> Message | None:
    """The learner message stored earlier under this id (served by the unique index)."""
    return await Message.find_one(
        {"conversation_id": conversation_id, "client_message_id": client_message_id}
    )


async def store_exchange(
    *,
    conversation: Conversation,
    author_id: PydanticObjectId,
    content: str,
    client_message_id: str | None,
    topics: Sequence[TopicRef],
    provider: str | None,
    title: str,
) -> StoredExchange | None:
    """The learner's message and an empty streaming reply in one ordered insert, then the
    conversation's counters, activity and (first message) automatic `title` in one update.
    None: a message with this `client_message_id` is stored already (a concurrent re-send won
    the unique index; nothing was stored or counted)."""
    assert conversation.id is not None
    now = utcnow()
    question = Message(
        id=PydanticObjectId(),
        conversation_id=conversation.id,
        author_id=author_id,
        role="user",
        content=content,
        client_message_id=client_message_id,
        topics=list(topics),
        created_at=now,
        updated_at=now,
    )
    reply = _new_reply(conversation.id, question, provider=provider)
    try:
        # Encoded as Beanie would, sent with the driver (no Beanie insert machinery: every send).
        await Message.get_pymongo_collection().insert_many(
            [get_dict(question, to_db=True), get_dict(reply, to_db=True)], ordered=True
        )
    except BulkWriteError as exc:
        if any(
            e.get("code") == 11000 and e.get("index") == 0
            for e in exc.details.get("writeErrors", [])
        ):
            return None
        raise
    inc: dict[str, int] = {"message_count": 2}
    for topic in question.topics:
        subject, _, slug = topic.id.partition(".")
        inc[f"topics_seen.{subject}.{slug}"] = 1
    changes = {"last_message_at": reply.created_at, "updated_at": now}
    await _count_exchange(conversation, {"$inc": inc, "$set": changes}, title)
    return StoredExchange(question, reply)


async def _count_exchange(conversation: Conversation, update: dict[str, Any], title: str) -> None:
    """`update` with the automatic title while the conversation has none: one round trip.
    The filter makes a learner's rename, even a concurrent one, win over the title. Once
    titled, the counters go out with the other conversations' of the moment (`GroupCommit`:
    each `$inc` stays atomic on its own document)."""
    if not conversation.title_set_by_user and conversation.title is None:
        titled = {"$inc": update["$inc"], "$set": update["$set"] | {"title": title}}
        result = await Conversation.get_pymongo_collection().update_one(
            {"_id": conversation.id, "title": None, "title_set_by_user": False}, titled
        )
        if result.matched_count == 1:
            return
    (code,) = await _counter_writes.submit([UpdateOne({"_id": conversation.id}, update)])
    if code is not None:
        raise RuntimeError(f"the conversation counters update failed with code {code}")


async def store_reply(
    *, conversation: Conversation, question: Message, provider: str | None
) -> Message:
    """A new streaming reply to a stored learner message (a regenerate). 409 while another
    reply to it is streaming: the `one_streaming_reply` index lets one insert win."""
    assert conversation.id is not None
    reply = _new_reply(conversation.id, question, provider=provider)
    try:
        await reply.insert()
    except DuplicateKeyError as exc:
        raise Conflict(
            "A reply to this message is still being generated; abort it first.",
            code="generation_in_progress",
        ) from exc
    now = utcnow()
    await Conversation.get_pymongo_collection().update_one(
        {"_id": conversation.id},
        {"$inc": {"message_count": 1}, "$set": {"last_message_at": now, "updated_at": now}},
    )
    return reply


# ---- reading -------------------------------------------------------------------------------
async def get_message(message_id: PydanticObjectId | None) -> Message | None:
    return await Message.get(message_id) if message_id is not None else None


async def message_in(*, conversation: Conversation, message_id: str) -> Message:
    """A message of this conversation; any other id (malformed, elsewhere) is not found."""
    oid = object_id(message_id, message_not_found)
    message = await Message.find_one({"_id": oid, "conversation_id": conversation.id})
    if message is None:
        raise message_not_found()
    return message


async def question_of(*, conversation: Conversation, message: Message) -> Message:
    """The learner message a message answers (itself for a learner message)."""
    if message.role == "user":
        return message
    if message.role != "assistant" or message.parent_id is None:
        raise message_not_found()
    question = await Message.find_one(
        {"_id": message.parent_id, "conversation_id": conversation.id}
    )
    if question is None:
        raise message_not_found()
    return question


async def find_readable(*, user: User, message_id: str) -> Message:
    """A message in a conversation the user may read; anything else is not found."""
    message = await Message.get(object_id(message_id, message_not_found))
    if message is None:
        raise message_not_found()
    try:
        await conversations.get_accessible(user=user, conversation_id=str(message.conversation_id))
    except NotFound as exc:
        raise message_not_found() from exc
    return message


async def latest_reply(*, question: Message) -> Message | None:
    """The newest reply to a learner message (served by `parent_replies`)."""
    return (
        await Message.find({"parent_id": question.id, "conversation_id": question.conversation_id})
        .sort([("created_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)])
        .first_or_none()
    )


async def reply_count(*, question: Message) -> int:
    """How many replies a learner message has (a regenerate's own included; served by
    `parent_replies`): the n-th reply is the learner's (n-1)-th regenerate."""
    return await Message.find(
        {"parent_id": question.id, "conversation_id": question.conversation_id}
    ).count()


async def recent_before(
    *, conversation: Conversation, before: Message, limit: int
) -> list[Message]:
    """Messages older than `before`, newest first (served by conversation_recent)."""
    query: dict[str, Any] = {
        "conversation_id": conversation.id,
        "$or": [
            {"created_at": {"$lt": before.created_at}},
            {"created_at": before.created_at, "_id": {"$lt": before.id}},
        ],
    }
    return (
        await Message.find(query)
        .sort([("created_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)])
        .limit(limit)
        .to_list()
    )


_HISTORY_PROJECTION: Final = {"meta": 0, "usage": 0, "citations": 0}


async def recent(*, conversation: Conversation, limit: int) -> list[Message]:
    """The conversation's newest messages, newest first (served by conversation_recent), for
    the re-send check and the AI's history: without a reply's `meta`, `usage` and `citations`
    (a learner message has none; validating them was most of this read's cost). Read with the
    driver and validated once (no Beanie query building: every chat message)."""
    cursor = (
        Message.get_pymongo_collection()
        .find({"conversation_id": conversation.id}, _HISTORY_PROJECTION)
        .sort([("created_at", -1), ("_id", -1)])
        .limit(limit)
    )
    return [Message.model_validate(raw) async for raw in cursor]


async def streaming_reply_ids(*, conversation_id: PydanticObjectId) -> list[str]:
    """Replies of a conversation still being generated (served by conversation_streaming)."""
    cursor = Message.get_pymongo_collection().find(
        {"conversation_id": conversation_id, "status": "streaming"}, {"_id": 1}
    )
    return [str(doc["_id"]) async for doc in cursor]


# ---- a reply being generated -----------------------------------------------------------------
async def save_partial(*, reply_id: PydanticObjectId | None, content: str) -> bool:
    """The text streamed so far; False when the reply is no longer streaming (aborted
    through another instance: the stored status is the durable stop signal)."""
    result = await Message.get_pymongo_collection().update_one(
        {"_id": reply_id, "status": "streaming"},
        {"$set": {"content": content, "updated_at": utcnow()}},
    )
    return result.matched_count == 1


async def complete_reply(
    *,
    reply: Message,
    content: str,
    provider: str,
    model: str,
    usage: Usage,
    meta: GenerationMeta,
    citations: Sequence[Citation] = (),
) -> Message:
    """Ends a streaming reply as complete, with the passages its text cites."""
    now = utcnow()
    changes: dict[str, Any] = {
        "content": content,
        "status": "complete",
        "provider": provider,
        "model": model,
        "usage": usage.model_dump(),
        "meta": meta.model_dump(),
        "citations": [c.model_dump() for c in citations],
        "updated_at": now,
        "completed_at": now,
    }
    return await _settle(reply, changes)


async def stop_reply(
    *, reply: Message, content: str, status: str, error: MessageError | None = None
) -> Message:
    """Ends a reply as `failed` or `aborted` with the text it had."""
    now = utcnow()
    changes: dict[str, Any] = {
        "status": status,
        "content": content,
        "updated_at": now,
        "completed_at": now,
        "error": error.model_dump() if error else None,
    }
    # An abort through another instance already set the status; the text is ours to save.
    also = ("aborted",) if status == "aborted" else ()
    return await _settle(reply, changes, also=also)


async def _settle(
    reply: Message, changes: dict[str, Any], *, also: tuple[str, ...] = ()
) -> Message:
    """Ends a reply that is still streaming (one round trip); else returns it as stored.
    `also`: statuses set elsewhere whose reply this process still has to complete."""
    query: dict[str, Any] = {"_id": reply.id, "status": "streaming"}
    if also:
        query = {"_id": reply.id, "status": {"$in": ["streaming", *also]}, "completed_at": None}
    stored = await Message.get_pymongo_collection().find_one_and_update(
        query, {"$set": changes}, return_document=ReturnDocument.AFTER
    )
    if stored is not None:
        return Message.model_validate(stored)
    return await reload(reply)


async def reload(reply: Message) -> Message:
    """The reply as stored now (the one in hand if it was deleted meanwhile)."""
    stored = await Message.get(reply.id)
    return stored if stored is not None else reply


# ---- aborting ------------------------------------------------------------------------------
async def mark_aborted(*, message_id: PydanticObjectId | None) -> None:
    """The durable abort signal for a reply generated elsewhere (or by nobody after a crash)."""
    await Message.get_pymongo_collection().update_one(
        {"_id": message_id, "status": "streaming"},
        {"$set": {"status": "aborted", "updated_at": utcnow()}},
    )


async def abort_settled(*, message_id: PydanticObjectId | None) -> bool:
    """True once an aborted reply's text is saved (`completed_at` set) or it is gone."""
    stored = await Message.get_pymongo_collection().find_one(
        {"_id": message_id}, projection={"completed_at": 1}
    )
    return stored is None or stored.get("completed_at") is not None


async def save_aborted_text(*, message_id: PydanticObjectId | None, content: str) -> None:
    """The generating instance's text of a reply aborted elsewhere; once only."""
    await Message.get_pymongo_collection().update_one(
        {"_id": message_id, "status": "aborted", "completed_at": None},
        {"$set": {"content": content, "completed_at": utcnow()}},
    )


async def settle_aborted(*, message_id: PydanticObjectId | None) -> None:
    """Ends an aborted reply nobody saved (its instance is gone), keeping its last text."""
    now = utcnow()
    await Message.get_pymongo_collection().update_one(
        {"_id": message_id, "status": "aborted", "completed_at": None},
        {"$set": {"completed_at": now, "updated_at": now}},
    )


async def fail_stale(*, before: datetime) -> int:
    """Marks replies left `streaming` (not written since `before`) as failed; how many."""
    result = await Message.get_pymongo_collection().update_many(
        {"status": "streaming", "updated_at": {"$lt": before}},
        {
            "$set": {
                "status": "failed",
                "error": {
                    "code": "interrupted",
                    "message": "The reply was interrupted; regenerate it.",
                },
                "completed_at": utcnow(),
            }
        },
    )
    return result.modified_count
