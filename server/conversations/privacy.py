"""Export and erasure of a user's conversations and messages (docs/PRIVACY.md).

Where a user's messages are: a conversation that is theirs alone ("private": they own it and
nobody else takes part) holds nothing but their data, so all of it is theirs. Anywhere else
(a study group's conversation they own or are a member of, or one they left) only their own
messages and the assistant replies to them are theirs; the other learners' messages are not,
and are neither exported nor erased.

`member_ids` is not the only way a conversation is shared: a feature above (study groups)
says which of the user's conversations it shares with others by providing
`SHARED_ELSEWHERE`; nobody providing it is an error, never "private".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from beanie import PydanticObjectId
from beanie.odm.enums import SortDirection

from models import Conversation, Message
from models.common import utcnow
from server.privacy.registry import (
    ErasureContext,
    ExportContext,
    Fact,
    PrivacyContext,
    PrivacyRegistry,
    chunks,
    collection_name,
    dump,
)


@dataclass
class ConversationScope:
    user_id: PydanticObjectId
    # Conversations with nothing but the user's data: all their messages are the user's.
    private: list[PydanticObjectId] = field(default_factory=list)
    # Conversations shared with others: only the user's messages and the replies to them.
    shared: list[PydanticObjectId] = field(default_factory=list)
    owned: set[PydanticObjectId] = field(default_factory=set)
    members_of: set[PydanticObjectId] = field(default_factory=set)


# The conversations the user owns, each with its other members (`member_ids` less the user).
OWNED: Final = Fact[dict[PydanticObjectId, list[PydanticObjectId]]]("conversations.owned")
# Which of OWNED are shared with others although `member_ids` may not say so (a group's).
SHARED_ELSEWHERE: Final = Fact[set[PydanticObjectId]]("conversations.shared_elsewhere")
SCOPE: Final = Fact[ConversationScope]("conversations.scope")
# The user's own messages in the shared conversations.
OWN_MESSAGES: Final = Fact[list[PydanticObjectId]]("conversations.own_messages")


# ---- where the user's data is ---------------------------------------------------------------
async def _owned(ctx: PrivacyContext) -> dict[PydanticObjectId, list[PydanticObjectId]]:
    owned: dict[PydanticObjectId, list[PydanticObjectId]] = {}
    cursor = Conversation.get_pymongo_collection().find({"user_id": ctx.user_id}, {"member_ids": 1})
    async for raw in cursor:
        owned[raw["_id"]] = [m for m in raw.get("member_ids", []) if m != ctx.user_id]
    return owned


async def _scope(ctx: PrivacyContext) -> ConversationScope:
    user_id = ctx.user_id
    scope = ConversationScope(user_id)
    owned = await ctx.facts.get(OWNED)
    shared_elsewhere = await ctx.facts.get(SHARED_ELSEWHERE)
    for conversation_id, others in owned.items():
        shared = bool(others) or conversation_id in shared_elsewhere
        (scope.shared if shared else scope.private).append(conversation_id)
    scope.owned = set(owned)
    cursor = Conversation.get_pymongo_collection().find({"member_ids": user_id}, {"_id": 1})
    async for raw in cursor:
        scope.members_of.add(raw["_id"])
    # Conversations holding the user's messages although they no longer belong to them (a
    # group they left), served by the `author_conversations` index.
    authored = await Message.get_pymongo_collection().distinct(
        "conversation_id", {"author_id": user_id}
    )
    private = set(scope.private)
    for conversation_id in [*scope.members_of, *authored]:
        if conversation_id not in private and conversation_id not in scope.shared:
            scope.shared.append(conversation_id)
    return scope


async def _own_messages(ctx: PrivacyContext) -> list[PydanticObjectId]:
    scope = await ctx.facts.get(SCOPE)
    ids: list[PydanticObjectId] = []
    collection = Message.get_pymongo_collection()
    for chunk in chunks(scope.shared):
        query = {"conversation_id": {"$in": chunk}, "author_id": scope.user_id}
        ids += [raw["_id"] async for raw in collection.find(query, {"_id": 1})]
    return ids


async def _replies_where(
    scope: ConversationScope, own: list[PydanticObjectId], condition: dict[str, Any]
) -> list[Any]:
    """Ids of messages matching `condition` in the private conversations, and of replies to
    the user's own messages elsewhere."""
    collection = Message.get_pymongo_collection()
    ids: list[Any] = []
    for chunk in chunks(scope.private):
        query = {"conversation_id": {"$in": chunk}, **condition}
        ids += [raw["_id"] async for raw in collection.find(query, {"_id": 1})]
    for chunk in chunks(own):
        query = {"parent_id": {"$in": chunk}, **condition}
        ids += [raw["_id"] async for raw in collection.find(query, {"_id": 1})]
    return ids


async def streaming_messages(*, ctx: PrivacyContext) -> list[Any]:
    """The user's replies still streaming (the chat feature aborts them)."""
    scope, own = await ctx.facts.get(SCOPE), await ctx.facts.get(OWN_MESSAGES)
    return await _replies_where(scope, own, {"status": "streaming"})


async def recent_replies(*, ctx: PrivacyContext, since: datetime) -> list[Any]:
    """The user's assistant replies updated since `since` or still streaming (those that may
    still have a replay stream)."""
    scope, own = await ctx.facts.get(SCOPE), await ctx.facts.get(OWN_MESSAGES)
    recent = {
        "role": "assistant",
        "$or": [{"updated_at": {"$gte": since}}, {"status": "streaming"}],
    }
    return await _replies_where(scope, own, recent)


# ---- export -----------------------------------------------------------------------------------
async def _export_messages(
    conversation_id: PydanticObjectId, *, shared: bool, user_id: PydanticObjectId
) -> list[dict[str, Any]]:
    """A conversation's messages that are the user's, oldest first."""
    order = [("created_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)]
    if not shared:
        return [
            dump(m) async for m in Message.find({"conversation_id": conversation_id}).sort(order)
        ]
    own = [
        m async for m in Message.find({"conversation_id": conversation_id, "author_id": user_id})
    ]
    replies: list[Message] = []
    for chunk in chunks([m.id for m in own]):
        replies += [
            m
            async for m in Message.find(
                {"conversation_id": conversation_id, "parent_id": {"$in": chunk}}
            )
        ]
    return [dump(m) for m in sorted(own + replies, key=lambda m: (m.created_at, str(m.id)))]


def _view(conversation: Conversation, scope: ConversationScope, shared: bool) -> dict[str, Any]:
    if conversation.id in scope.owned:
        role = "owner"
    elif conversation.id in scope.members_of:
        role = "member"
    else:
        role = "former_member"
    view: dict[str, Any] = {
        "id": str(conversation.id),
        "role": role,
        "shared": shared,
        "title": conversation.title,
        "subject": conversation.subject,
        "archived": conversation.archived,
        "pinned": conversation.pinned,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "last_message_at": (
            conversation.last_message_at.isoformat() if conversation.last_message_at else None
        ),
    }
    if not shared:
        # A shared conversation's digest counts the other learners' messages too.
        view["topics_seen"] = conversation.topics_seen
    return view


async def _export(ctx: ExportContext) -> list[dict[str, Any]]:
    scope = await ctx.facts.get(SCOPE)
    views = []
    shared = set(scope.shared)
    for chunk in chunks([*scope.private, *scope.shared]):
        async for conversation in Conversation.find({"_id": {"$in": chunk}}).sort(
            [("created_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)]
        ):
            assert conversation.id is not None
            is_shared = conversation.id in shared
            view = _view(conversation, scope, is_shared)
            view["messages"] = await _export_messages(
                conversation.id, shared=is_shared, user_id=scope.user_id
            )
            views.append(view)
    ctx.counts["conversations"] = len(views)
    ctx.counts["messages"] = sum(len(v["messages"]) for v in views)
    return views


# ---- erasure ----------------------------------------------------------------------------------
async def _read_scope(ctx: ErasureContext) -> None:
    """Read once, right after the account is disabled and before anything is deleted: every
    later step works from it, and a rerun finds what is left by the user's id."""
    await ctx.facts.get(SCOPE)
    await ctx.facts.get(OWN_MESSAGES)


async def _delete_messages(ctx: ErasureContext) -> None:
    """Shared conversations first (the user's messages, the replies to them, and the
    conversation's count follows), then everything in the private ones. Before their
    conversations, so that a rerun still finds them by conversation."""
    scope, own = await ctx.facts.get(SCOPE), await ctx.facts.get(OWN_MESSAGES)
    collection = Message.get_pymongo_collection()
    removed: Counter[Any] = Counter()
    for chunk in chunks(own):
        victims = {"$or": [{"_id": {"$in": chunk}}, {"parent_id": {"$in": chunk}}]}
        async for raw in collection.find(victims, {"conversation_id": 1}):
            removed[raw["conversation_id"]] += 1
        result = await collection.delete_many(victims)
        ctx.report.add("deleted", collection_name(Message), result.deleted_count)
    conversations = Conversation.get_pymongo_collection()
    for conversation_id, count in removed.items():
        if conversation_id in scope.shared:
            await conversations.update_one(
                {"_id": conversation_id, "message_count": {"$gte": count}},
                {"$inc": {"message_count": -count}},
            )
    for chunk in chunks(scope.private):
        result = await collection.delete_many({"conversation_id": {"$in": chunk}})
        ctx.report.add("deleted", collection_name(Message), result.deleted_count)


async def _delete_private(ctx: ErasureContext) -> None:
    scope = await ctx.facts.get(SCOPE)
    for chunk in chunks(scope.private):
        result = await Conversation.get_pymongo_collection().delete_many(
            {"_id": {"$in": chunk}, "user_id": ctx.user_id}
        )
        ctx.report.add("deleted", collection_name(Conversation), result.deleted_count)


async def hand_over(
    *, conversation_id: PydanticObjectId, owner_id: PydanticObjectId, heir_id: PydanticObjectId
) -> None:
    """A conversation the erased user owns passes to `heir_id` (no longer a mere member)."""
    await Conversation.get_pymongo_collection().update_one(
        {"_id": conversation_id, "user_id": owner_id},
        {"$set": {"user_id": heir_id, "updated_at": utcnow()}, "$pull": {"member_ids": heir_id}},
    )


async def delete_owned(*, conversation_id: PydanticObjectId, owner_id: PydanticObjectId) -> None:
    """A conversation of the erased user's that nobody else is in any more."""
    await Conversation.get_pymongo_collection().delete_one(
        {"_id": conversation_id, "user_id": owner_id}
    )


async def _leave(ctx: ErasureContext) -> None:
    """A shared conversation still owned (none is made without a group today): its next
    member takes it; the user's own messages in it are already gone. Then the user leaves
    every conversation they are a member of."""
    conversations = Conversation.get_pymongo_collection()
    async for raw in conversations.find({"user_id": ctx.user_id}, {"member_ids": 1}):
        others = [m for m in raw.get("member_ids", []) if m != ctx.user_id]
        if others:
            await conversations.update_one(
                {"_id": raw["_id"], "user_id": ctx.user_id},
                {"$set": {"user_id": others[0]}, "$pull": {"member_ids": others[0]}},
            )
            ctx.report.add("updated", "conversations_handed_over", 1)
    result = await conversations.update_many(
        {"member_ids": ctx.user_id}, {"$pull": {"member_ids": ctx.user_id}}
    )
    ctx.report.add("updated", collection_name(Conversation), result.modified_count)


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.provide(OWNED, _owned)
    registry.provide(SCOPE, _scope)
    registry.provide(OWN_MESSAGES, _own_messages)
    registry.register_export("conversations", _export, collections=(Conversation, Message))
    registry.register_erase("conversations.scope", _read_scope, phase="stop")
    registry.register_erase(
        "conversations.messages", _delete_messages, phase="content", collections=(Message,)
    )
    registry.register_erase(
        "conversations.delete",
        _delete_private,
        phase="content",
        collections=(Conversation,),
        after=("conversations.messages",),
    )
    registry.register_erase(
        "conversations.leave", _leave, phase="memberships", collections=(Conversation,)
    )
