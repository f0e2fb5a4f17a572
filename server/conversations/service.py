"""Conversations: every lookup is scoped to the caller's organization and to the owner (or, to
read and chat, a member: a study group's conversation). Only the owner renames or deletes."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from typing import Any, Literal, NamedTuple

from beanie import PydanticObjectId
from pydantic import BaseModel
from redis.exceptions import RedisError

from models import Conversation, Message, User
from models.common import utcnow
from server.cluster import Cluster
from server.conversations.schemas import ConversationCreate, ConversationUpdate
from server.errors import NotFound
from server.ids import object_id
from server.pagination import newest_first, one_cursor

log = logging.getLogger("starguide.conversations")

# The control message (server/cluster.py) telling every instance that users lost access.
ACCESS_LOST = "conversation_access_lost"
AccessLossReason = Literal["left", "deleted", "revoked"]


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
    assert user.id is not None
    # The driver, validated once: every chat message and page of messages comes here.
    raw = await Conversation.get_pymongo_collection().find_one(
        _accessible(user.id, user.org_id, parse_id(conversation_id))
    )
    if raw is None:
        raise _not_found()
    return Conversation.model_validate(raw)


# ---- access for live events (the socket gateway) --------------------------------------------
def _accessible(
    user_id: PydanticObjectId, org_id: PydanticObjectId, conversation_id: PydanticObjectId
) -> dict[str, Any]:
    """The one rule of who may read a conversation and take part live: its organization's
    owner or one of its `member_ids`. Served by the `_id` index."""
    return {
        "_id": conversation_id,
        "org_id": org_id,
        "$or": [{"user_id": user_id}, {"member_ids": user_id}],
    }


async def can_access(*, user_id: str, org_id: str, conversation_id: str) -> bool:
    """`get_accessible` as a yes/no for a socket that already joined: one `_id` lookup that
    returns nothing but the id, cheap enough to repeat before each relayed event."""
    query = _accessible(
        PydanticObjectId(user_id), PydanticObjectId(org_id), parse_id(conversation_id)
    )
    return await Conversation.get_pymongo_collection().find_one(query, {"_id": 1}) is not None


class ConversationAccess(NamedTuple):
    org_id: str
    user_ids: frozenset[str]  # the owner and the members

    def allows(self, *, user_id: str, org_id: str) -> bool:
        return org_id == self.org_id and user_id in self.user_ids


async def access_of(conversation_ids: Collection[str]) -> dict[str, ConversationAccess]:
    """Who may access each of these conversations (a deleted one is missing): the gateway's
    periodic re-check of its sockets' rooms, one query for all of them."""
    ids = [PydanticObjectId(c) for c in conversation_ids]
    cursor = Conversation.get_pymongo_collection().find(
        {"_id": {"$in": ids}}, {"org_id": 1, "user_id": 1, "member_ids": 1}
    )
    return {
        str(raw["_id"]): ConversationAccess(
            org_id=str(raw["org_id"]),
            user_ids=frozenset(str(u) for u in [raw["user_id"], *raw.get("member_ids", [])]),
        )
        async for raw in cursor
    }


class AccessLost(BaseModel):
    """The control message: these users (None: everyone) may no longer see the conversation."""

    conversation_id: str
    user_ids: list[str] | None
    reason: AccessLossReason


async def announce_access_lost(
    *,
    cluster: Cluster,
    conversation_id: PydanticObjectId | str,
    user_ids: Iterable[PydanticObjectId | str] | None,
    reason: AccessLossReason,
) -> None:
    """Makes the sockets of users who lost access leave the conversation's room on every
    instance. Call it after the database write that removed the access: an instance then
    either hears this or, for a join racing with it, reads the new state. Delivery is at most
    once, so a failed publish is logged, not raised: the change is already stored, and each
    instance re-checks its sockets' rooms on its presence heartbeat (realtime/heartbeat.py)."""
    notice = AccessLost(
        conversation_id=str(conversation_id),
        user_ids=None if user_ids is None else [str(u) for u in user_ids],
        reason=reason,
    )
    try:
        await cluster.publish(ACCESS_LOST, notice.model_dump())
    except (RedisError, OSError) as exc:
        log.warning("announcing a loss of access failed: %s", type(exc).__name__)


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


async def delete(*, user: User, conversation_id: str, cluster: Cluster) -> None:
    conversation = await get_owned(user=user, conversation_id=conversation_id)
    # The conversation goes first, so a crash in between leaves no visible half-deleted thread.
    await conversation.delete()
    # Every socket in it leaves its room, the owner's and the members' alike.
    await announce_access_lost(
        cluster=cluster, conversation_id=str(conversation.id), user_ids=None, reason="deleted"
    )
    await Message.find(Message.conversation_id == conversation.id).delete()


async def list_messages(
    *, user: User, conversation_id: str, limit: int, cursor: str | None, before: str | None
) -> tuple[list[Message], str | None]:
    """Pages go back in time; `next_cursor` works as `before` (the contract's name) and as
    `cursor` (what clients generic over `{items, next_cursor}` send), which are the same."""
    after = one_cursor(cursor=cursor, before=before)
    conversation = await get_accessible(user=user, conversation_id=conversation_id)
    docs, next_cursor = await newest_first(
        Message, {"conversation_id": conversation.id}, "created_at", limit=limit, cursor=after
    )
    docs.reverse()  # newest page first, but oldest→newest within it
    return docs, next_cursor


# ---- a study group's shared conversation (called by server.groups) --------------------------
async def create_shared(*, owner: User, title: str) -> Conversation:
    """The conversation a new study group chats in: owned by the group's creator, titled by
    the group's name (as if the owner had named it), members added as they join."""
    assert owner.id is not None
    return await Conversation(
        user_id=owner.id, org_id=owner.org_id, title=title, title_set_by_user=True
    ).insert()


async def add_member(*, conversation_id: PydanticObjectId, user_id: PydanticObjectId) -> None:
    """Idempotent (`$addToSet`): a repeated join repairs a crash between the group's write
    and this one."""
    await Conversation.get_pymongo_collection().update_one(
        {"_id": conversation_id}, {"$addToSet": {"member_ids": user_id}}
    )


async def remove_member(*, conversation_id: PydanticObjectId, user_id: PydanticObjectId) -> None:
    """Idempotent (`$pull`). The caller announces the loss of access afterwards
    (`announce_access_lost`), so live sockets leave the room too."""
    await Conversation.get_pymongo_collection().update_one(
        {"_id": conversation_id}, {"$pull": {"member_ids": user_id}}
    )
