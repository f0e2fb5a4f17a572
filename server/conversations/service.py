"""Conversations: every lookup is scoped to the caller's organization and to the owner (or, to
read and chat, a member: a study group's conversation). Only the owner renames or deletes."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from models import Conversation, Message, User
from models.common import utcnow
from server.conversations.schemas import ConversationCreate, ConversationUpdate
from server.errors import NotFound
from server.ids import object_id
from server.pagination import newest_first


def _not_found() -> NotFound:
    return NotFound("Conversation not found.", code="conversation_not_found")


def parse_id(raw: str) -> PydanticObjectId:
    return object_id(raw, _not_found)


def _owned(user: User, conversation_id: PydanticObjectId) -> dict[str, Any]:
    # Another user's or another organization's conversation simply does not match: 404.
    return {"_id": conversation_id, "user_id": user.id, "org_id": user.org_id}


async def create(*, user: User, body: ConversationCreate) -> Conversation:
    assert user.id is not None
    return await Conversation(
        user_id=user.id,
        org_id=user.org_id,
        title=body.title,
        title_set_by_user=body.title is not None,
        subject=body.subject,
    ).insert()


async def get_owned(*, user: User, conversation_id: str) -> Conversation:
    found = await Conversation.find_one(_owned(user, parse_id(conversation_id)))
    if found is None:
        raise _not_found()
    return found


async def get_accessible(*, user: User, conversation_id: str) -> Conversation:
    """The caller's own conversation or one they are a member of (a group's): live events."""
    query = {
        "_id": parse_id(conversation_id),
        "org_id": user.org_id,
        "$or": [{"user_id": user.id}, {"member_ids": user.id}],
    }
    found = await Conversation.find_one(query)
    if found is None:
        raise _not_found()
    return found


async def list_page(
    *, user: User, limit: int, cursor: str | None, archived: bool | None
) -> tuple[list[Conversation], str | None]:
    query: dict[str, Any] = {"user_id": user.id, "org_id": user.org_id}
    if archived is not None:
        query["archived"] = archived
    return await newest_first(Conversation, query, "updated_at", limit=limit, cursor=cursor)


async def update(*, user: User, conversation_id: str, body: ConversationUpdate) -> Conversation:
    changes: dict[str, Any] = {}
    fields = body.model_fields_set
    if "title" in fields:
        changes["title"] = body.title
        changes["title_set_by_user"] = body.title is not None
    for name in ("archived", "pinned"):
        if name in fields:
            value = getattr(body, name)
            if value is None:
                continue
            changes[name] = value
    filter_ = _owned(user, parse_id(conversation_id))
    if changes:
        changes["updated_at"] = utcnow()
        result = await Conversation.get_pymongo_collection().update_one(filter_, {"$set": changes})
        if result.matched_count == 0:
            raise _not_found()
    return await get_owned(user=user, conversation_id=conversation_id)


async def delete(*, user: User, conversation_id: str) -> None:
    conversation = await get_owned(user=user, conversation_id=conversation_id)
    # The conversation goes first, so a crash in between leaves no visible half-deleted thread.
    await conversation.delete()
    await Message.find(Message.conversation_id == conversation.id).delete()


async def list_messages(
    *, user: User, conversation_id: str, limit: int, before: str | None
) -> tuple[list[Message], str | None]:
    conversation = await get_accessible(user=user, conversation_id=conversation_id)
    docs, next_cursor = await newest_first(
        Message, {"conversation_id": conversation.id}, "created_at", limit=limit, cursor=before
    )
    docs.reverse()  # newest page first, but oldest→newest within it
    return docs, next_cursor
