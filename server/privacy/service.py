"""Export (GDPR art. 15 and 20) and erasure (art. 17) of one user's data (docs/PRIVACY.md).

Where a user's messages are: a conversation that is theirs alone ("private": they own it and
nobody else takes part) holds nothing but their data, so all of it is theirs. Anywhere else
(a study group's conversation they own or are a member of, or one they left) only their own
messages and the assistant replies to them are theirs; the other learners' messages are not,
and are neither exported nor erased.

Erasure runs in an order that is safe to rerun after a crash: the account is disabled first
(every request and socket refused at once), the user document is deleted last (an admin can
run the erasure again until it is), and every step before that finds what is left by the
user's id, so a second run picks up where the first stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, TypeVar

from beanie import Document, PydanticObjectId
from beanie.odm.enums import SortDirection

from models import (
    Achievement,
    AiUsageDay,
    AuditLog,
    Conversation,
    LearnerTopic,
    Message,
    Organization,
    Progress,
    Question,
    QuizAttempt,
    RefreshToken,
    StudyGroup,
    TopicMastery,
    User,
    UserAchievement,
    XpEvent,
)
from models.common import utcnow
from realtime.presence import RedisPresence
from realtime.replay import RedisReplay
from server.audit import service as audit_service
from server.chat.limits import SendLimiter, local_day
from server.errors import AppError
from server.memory import service as memory
from server.privacy.schemas import ErasureReport
from server.progress.weeks import iso_week
from server.state import AppState
from server.users import service as users_service

log = logging.getLogger("starguide.privacy")

EXPORT_FORMAT: Final = "starguide.export"
EXPORT_VERSION: Final = 1
_BATCH: Final = 500  # ids per `$in` query
# How long an erasure lets this process's just-scheduled progress updates land first.
_SETTLE_SECONDS: Final = 5.0
# A reply's replay stream lives `socket_replay_ttl_seconds` after its last event; its
# `updated_at` is written with that event, give or take this much.
_REPLAY_SLACK: Final = timedelta(seconds=120)

# Collections keyed by `user_id` whose documents are wholly the user's: deleted outright.
_PER_USER: Final[tuple[type[Document], ...]] = (
    LearnerTopic,
    Progress,
    XpEvent,
    UserAchievement,
    QuizAttempt,
    TopicMastery,
    RefreshToken,
)

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = _BATCH) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _name(model: type[Document]) -> str:
    return str(model.get_collection_name())


def _dump(doc: Document, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A stored document as JSON values (ids as strings, ISO times), without Beanie's own."""
    return doc.model_dump(mode="json", exclude={"revision_id", *exclude})


# ---- where the user's data is ---------------------------------------------------------------
@dataclass
class _Scope:
    user_id: PydanticObjectId
    # Conversations with nothing but the user's data: all their messages are the user's.
    private: list[PydanticObjectId] = field(default_factory=list)
    # Conversations shared with others: only the user's messages and the replies to them.
    shared: list[PydanticObjectId] = field(default_factory=list)
    owned: set[PydanticObjectId] = field(default_factory=set)
    members_of: set[PydanticObjectId] = field(default_factory=set)


async def _scope(user_id: PydanticObjectId) -> _Scope:
    scope = _Scope(user_id)
    conversations = Conversation.get_pymongo_collection()
    owned: dict[PydanticObjectId, list[PydanticObjectId]] = {}
    async for raw in conversations.find({"user_id": user_id}, {"member_ids": 1}):
        owned[raw["_id"]] = [m for m in raw.get("member_ids", []) if m != user_id]
    # A group conversation the user owns is shared while the group has anyone else in it.
    others_in_group: set[PydanticObjectId] = set()
    async for raw in StudyGroup.get_pymongo_collection().find(
        {"conversation_id": {"$in": list(owned)}}, {"conversation_id": 1, "members.user_id": 1}
    ):
        if any(m.get("user_id") != user_id for m in raw.get("members", [])):
            others_in_group.add(raw["conversation_id"])
    for conversation_id, others in owned.items():
        shared = bool(others) or conversation_id in others_in_group
        (scope.shared if shared else scope.private).append(conversation_id)
    scope.owned = set(owned)
    async for raw in conversations.find({"member_ids": user_id}, {"_id": 1}):
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


async def _own_message_ids(scope: _Scope) -> list[PydanticObjectId]:
    """The user's own messages in the shared conversations."""
    ids: list[PydanticObjectId] = []
    collection = Message.get_pymongo_collection()
    for chunk in _chunks(scope.shared):
        query = {"conversation_id": {"$in": chunk}, "author_id": scope.user_id}
        ids += [raw["_id"] async for raw in collection.find(query, {"_id": 1})]
    return ids


# ---- export -----------------------------------------------------------------------------------
def _user_view(user: User, org: Organization | None) -> dict[str, Any]:
    """Named field by field, so a secret added to `User` later can never slip into exports."""
    return {
        "id": str(user.id),
        "email": user.email,
        "role": user.role,
        "organization": {
            "id": str(user.org_id),
            "name": org.name if org else None,
            "slug": org.slug if org else None,
        },
        "profile": user.profile.model_dump(mode="json"),
        "preferred_provider": user.preferred_provider,
        "disabled": user.disabled,
        "legacy_id": user.legacy_id,
        "created_at": user.created_at.isoformat(),
        "updated_at": user.updated_at.isoformat(),
    }


async def _export_memory(user_id: PydanticObjectId) -> list[dict[str, Any]]:
    now = utcnow()
    topics = []
    async for doc in LearnerTopic.find({"user_id": user_id}).sort(
        [("weight", SortDirection.DESCENDING)]
    ):
        view = _dump(doc, exclude=frozenset({"id", "user_id"}))
        view["score"] = round(memory.to_score(doc.weight, now), 3)
        topics.append(view)
    return topics


async def _export_messages(
    conversation_id: PydanticObjectId, *, shared: bool, user_id: PydanticObjectId
) -> list[dict[str, Any]]:
    """A conversation's messages that are the user's, oldest first."""
    order = [("created_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)]
    if not shared:
        return [
            _dump(m) async for m in Message.find({"conversation_id": conversation_id}).sort(order)
        ]
    own = [
        m async for m in Message.find({"conversation_id": conversation_id, "author_id": user_id})
    ]
    replies: list[Message] = []
    for chunk in _chunks([m.id for m in own]):
        replies += [
            m
            async for m in Message.find(
                {"conversation_id": conversation_id, "parent_id": {"$in": chunk}}
            )
        ]
    return [_dump(m) for m in sorted(own + replies, key=lambda m: (m.created_at, str(m.id)))]


async def _export_conversations(scope: _Scope) -> list[dict[str, Any]]:
    views = []
    ids = [*scope.private, *scope.shared]
    shared = set(scope.shared)
    for chunk in _chunks(ids):
        async for conversation in Conversation.find({"_id": {"$in": chunk}}).sort(
            [("created_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)]
        ):
            assert conversation.id is not None
            is_shared = conversation.id in shared
            if conversation.id in scope.owned:
                role = "owner"
            elif conversation.id in scope.members_of:
                role = "member"
            else:
                role = "former_member"
            view: dict[str, Any] = {
                "id": str(conversation.id),
                "role": role,
                "shared": is_shared,
                "title": conversation.title,
                "subject": conversation.subject,
                "archived": conversation.archived,
                "pinned": conversation.pinned,
                "created_at": conversation.created_at.isoformat(),
                "updated_at": conversation.updated_at.isoformat(),
                "last_message_at": (
                    conversation.last_message_at.isoformat()
                    if conversation.last_message_at
                    else None
                ),
            }
            if not is_shared:
                # A shared conversation's digest counts the other learners' messages too.
                view["topics_seen"] = conversation.topics_seen
            view["messages"] = await _export_messages(
                conversation.id, shared=is_shared, user_id=scope.user_id
            )
            views.append(view)
    return views


async def _export_achievements(user_id: PydanticObjectId) -> list[dict[str, Any]]:
    earned = [a async for a in UserAchievement.find({"user_id": user_id}).sort("earned_at")]
    catalog = {
        a.code: a async for a in Achievement.find({"code": {"$in": [e.code for e in earned]}})
    }
    views = []
    for item in earned:
        spec = catalog.get(item.code)
        views.append(
            {
                "code": item.code,
                "name": spec.name if spec else None,
                "description": spec.description if spec else None,
                "tier": spec.tier if spec else None,
                "earned_at": item.earned_at.isoformat(),
            }
        )
    return views


async def _export_quiz(user_id: PydanticObjectId) -> dict[str, Any]:
    attempts = [a async for a in QuizAttempt.find({"user_id": user_id}).sort("created_at", "_id")]
    questions: dict[PydanticObjectId | None, Question] = {}
    for chunk in _chunks(sorted({a.question_id for a in attempts})):
        async for q in Question.find({"_id": {"$in": chunk}}):
            questions[q.id] = q
    attempt_views = []
    for attempt in attempts:
        view = _dump(attempt, exclude=frozenset({"user_id"}))
        question = questions.get(attempt.question_id)
        if question is not None:
            # What was asked and what the learner chose, so the record reads on its own.
            chosen = (
                question.options[attempt.option] if attempt.option < len(question.options) else None
            )
            view["question"] = {"stem": question.stem, "chosen_option": chosen}
        attempt_views.append(view)
    mastery = [
        _dump(m, exclude=frozenset({"user_id", "version"}))
        async for m in TopicMastery.find({"user_id": user_id}).sort("topic_id")
    ]
    return {"attempts": attempt_views, "mastery": mastery}


async def _export_groups(user_id: PydanticObjectId) -> list[dict[str, Any]]:
    views = []
    async for group in StudyGroup.find({"members.user_id": user_id}).sort("created_at"):
        mine = next(m for m in group.members if m.user_id == user_id)
        # No invite code (a secret of the group) and no other members (their data).
        views.append(
            {
                "id": str(group.id),
                "name": group.name,
                "role": mine.role,
                "joined_at": mine.joined_at.isoformat(),
                "created_by_me": group.created_by == user_id,
                "conversation_id": str(group.conversation_id),
                "created_at": group.created_at.isoformat(),
            }
        )
    return views


async def _export_sessions(user_id: PydanticObjectId) -> list[dict[str, Any]]:
    """Sign-in sessions: when, never the token hash or its family."""

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return [
        {
            "created_at": iso(t.created_at),
            "expires_at": iso(t.expires_at),
            "used_at": iso(t.used_at),
            "revoked_at": iso(t.revoked_at),
        }
        async for t in RefreshToken.find({"user_id": user_id}).sort("created_at")
    ]


async def _export_audit(user_id: PydanticObjectId) -> list[dict[str, Any]]:
    return [
        {
            "action": entry.action,
            "outcome": entry.outcome,
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "details": entry.details,
            "created_at": entry.created_at.isoformat(),
        }
        async for entry in AuditLog.find({"actor_id": user_id}).sort("created_at", "_id")
    ]


async def export_user(user: User, *, actor: User | None = None) -> dict[str, Any]:
    """Everything StarGuide holds about `user`, as one JSON-serialisable document.

    Read with cursors, but assembled in memory: an export is as large as the user's history
    (a few MB for a heavy learner), which is fine for a request; a much larger one would need
    a background job writing a file. Audited without content."""
    assert user.id is not None
    user_id = user.id
    scope = await _scope(user_id)
    progress = await Progress.find_one({"user_id": user_id})
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": utcnow().isoformat(),
        "user": _user_view(user, await Organization.get(user.org_id)),
        "memory": {"topics": await _export_memory(user_id)},
        "conversations": await _export_conversations(scope),
        "progress": _dump(progress, exclude=frozenset({"id", "user_id"})) if progress else None,
        "achievements": await _export_achievements(user_id),
        "quiz": await _export_quiz(user_id),
        "xp_events": [
            _dump(e, exclude=frozenset({"user_id"}))
            async for e in XpEvent.find({"user_id": user_id}).sort("created_at", "_id")
        ],
        "ai_usage": [
            _dump(d, exclude=frozenset({"id", "user_id"}))
            async for d in AiUsageDay.find({"user_id": user_id}).sort("day")
        ],
        "study_groups": await _export_groups(user_id),
        "sessions": await _export_sessions(user_id),
        "audit": await _export_audit(user_id),
    }
    await audit_service.record(
        action="privacy.export",
        actor_id=(actor or user).id,
        org_id=user.org_id,
        target_type="user",
        target_id=str(user_id),
        details={
            "version": EXPORT_VERSION,
            "conversations": len(document["conversations"]),
            "messages": sum(len(c["messages"]) for c in document["conversations"]),
        },
    )
    return document


# ---- erasure ----------------------------------------------------------------------------------
async def _stop_replies(state: AppState, user: User, scope: _Scope, own: list[Any]) -> None:
    """Aborts the user's replies still streaming, here or on another instance, and waits
    for them to settle, so their generators do not write after the deletes."""
    collection = Message.get_pymongo_collection()
    streaming: list[Any] = []
    for chunk in _chunks(scope.private):
        query = {"conversation_id": {"$in": chunk}, "status": "streaming"}
        streaming += [raw["_id"] async for raw in collection.find(query, {"_id": 1})]
    for chunk in _chunks(own):
        query = {"parent_id": {"$in": chunk}, "status": "streaming"}
        streaming += [raw["_id"] async for raw in collection.find(query, {"_id": 1})]

    async def abort(message_id: Any) -> None:
        try:
            await state.chat.abort_reply(user=user, message_id=str(message_id))
        except AppError:  # ended or gone meanwhile: nothing left to stop
            pass

    await asyncio.gather(*(abort(m) for m in streaming))


async def _leaderboard_boards(
    user: User,
) -> set[tuple[PydanticObjectId, str]]:
    """Every (organization, week) board the user can be on: from the ledger, and from the
    weekly totals (a board entry can outlive a ledger deleted by an earlier, crashed run)."""
    assert user.id is not None
    rows = await XpEvent.get_pymongo_collection().aggregate(
        [
            {"$match": {"user_id": user.id}},
            {"$group": {"_id": {"org": "$org_id", "week": "$week"}}},
        ]
    )
    boards = {(row["_id"]["org"], str(row["_id"]["week"])) async for row in rows}
    progress = await Progress.get_pymongo_collection().find_one(
        {"user_id": user.id}, {"xp_by_week": 1}
    )
    for week in (progress or {}).get("xp_by_week", {}):
        boards.add((user.org_id, str(week)))
    boards.add((user.org_id, iso_week(local_day(user, utcnow()))))
    return boards


async def _recent_replies(scope: _Scope, own: list[Any], ttl_seconds: int) -> list[Any]:
    """Assistant replies that may still have a replay stream in Redis."""
    since = utcnow() - timedelta(seconds=ttl_seconds) - _REPLAY_SLACK
    recent = {
        "role": "assistant",
        "$or": [{"updated_at": {"$gte": since}}, {"status": "streaming"}],
    }
    collection = Message.get_pymongo_collection()
    ids: list[Any] = []
    for chunk in _chunks(scope.private):
        query = {"conversation_id": {"$in": chunk}, **recent}
        ids += [raw["_id"] async for raw in collection.find(query, {"_id": 1})]
    for chunk in _chunks(own):
        query = {"parent_id": {"$in": chunk}, **recent}
        ids += [raw["_id"] async for raw in collection.find(query, {"_id": 1})]
    return ids


async def _delete_messages(scope: _Scope, own: list[Any], report: ErasureReport) -> None:
    """Shared conversations first (the user's messages, the replies to them, and the
    conversation's count follows), then everything in the private ones."""
    collection = Message.get_pymongo_collection()
    removed: Counter[Any] = Counter()
    for chunk in _chunks(own):
        victims = {"$or": [{"_id": {"$in": chunk}}, {"parent_id": {"$in": chunk}}]}
        async for raw in collection.find(victims, {"conversation_id": 1}):
            removed[raw["conversation_id"]] += 1
        result = await collection.delete_many(victims)
        report.add("deleted", _name(Message), result.deleted_count)
    conversations = Conversation.get_pymongo_collection()
    for conversation_id, count in removed.items():
        if conversation_id in scope.shared:
            await conversations.update_one(
                {"_id": conversation_id, "message_count": {"$gte": count}},
                {"$inc": {"message_count": -count}},
            )
    for chunk in _chunks(scope.private):
        result = await collection.delete_many({"conversation_id": {"$in": chunk}})
        report.add("deleted", _name(Message), result.deleted_count)


async def _leave_groups(user_id: PydanticObjectId, report: ErasureReport) -> None:
    """Groups the user created pass to another member (their conversation with them); a group
    with nobody else in it goes. Then the user leaves every group and group conversation."""
    groups = StudyGroup.get_pymongo_collection()
    conversations = Conversation.get_pymongo_collection()
    async for raw in groups.find({"created_by": user_id}):
        group = StudyGroup.model_validate(raw)
        others = sorted(
            (m for m in group.members if m.user_id != user_id),
            key=lambda m: (m.role != "mentor", m.joined_at),
        )
        if not others:
            # Its conversation was private to the user: deleted with the others.
            gone = await groups.delete_one({"_id": group.id})
            report.add("deleted", _name(StudyGroup), gone.deleted_count)
            await conversations.delete_one({"_id": group.conversation_id, "user_id": user_id})
            continue
        heir = others[0].user_id
        await conversations.update_one(
            {"_id": group.conversation_id, "user_id": user_id},
            {"$set": {"user_id": heir, "updated_at": utcnow()}, "$pull": {"member_ids": heir}},
        )
        await groups.update_one({"_id": group.id}, {"$set": {"created_by": heir}})
        report.add("updated", "study_groups_handed_over", 1)
    # A shared conversation still owned without a group (none is made today): its next
    # member takes it; the user's own messages in it are already gone.
    async for raw in conversations.find({"user_id": user_id}, {"member_ids": 1}):
        others = [m for m in raw.get("member_ids", []) if m != user_id]
        if others:
            await conversations.update_one(
                {"_id": raw["_id"], "user_id": user_id},
                {"$set": {"user_id": others[0]}, "$pull": {"member_ids": others[0]}},
            )
            report.add("updated", "conversations_handed_over", 1)
    result = await groups.update_many(
        {"members.user_id": user_id}, {"$pull": {"members": {"user_id": user_id}}}
    )
    report.add("updated", _name(StudyGroup), result.modified_count)
    result = await conversations.update_many(
        {"member_ids": user_id}, {"$pull": {"member_ids": user_id}}
    )
    report.add("updated", _name(Conversation), result.modified_count)


async def _delete_per_user(user_id: PydanticObjectId, report: ErasureReport) -> None:
    for model in _PER_USER:
        result = await model.get_pymongo_collection().delete_many({"user_id": user_id})
        report.add("deleted", _name(model), result.deleted_count)
    # AI spend stays, re-keyed to a random id that is stored nowhere else: organizations'
    # cost reports stay true, and nothing links the rows back to the person.
    rekeyed = await AiUsageDay.get_pymongo_collection().update_many(
        {"user_id": user_id}, {"$set": {"user_id": PydanticObjectId()}}
    )
    report.add("updated", _name(AiUsageDay), rekeyed.modified_count)


async def _clear_redis(
    state: AppState,
    user: User,
    *,
    boards: set[tuple[PydanticObjectId, str]],
    replies: Sequence[Any],
    conversations: Sequence[PydanticObjectId],
    report: ErasureReport,
) -> None:
    assert user.id is not None
    report.add(
        "redis",
        "leaderboard_entries",
        await state.leaderboards.forget_user(user_id=user.id, boards=boards),
    )
    # The rate-limit counters (memory or Redis): exact keys, through the library that made them.
    await SendLimiter(storage=state.limits_storage, rate=state.settings.chat_rate_limit).clear(
        str(user.id)
    )
    await state.login_throttle.reset(user.email)
    if state.redis is None:
        return  # replay buffers and presence then live in this process and expire alone
    for chunk in _chunks(list(replies)):
        deleted = await state.redis.delete(*(RedisReplay.key(str(m)) for m in chunk))
        report.add("redis", "replay_streams", int(deleted))
    presence = RedisPresence(state.redis, ttl_s=state.settings.presence_ttl_seconds)
    for conversation_id in conversations:
        removed = await presence.remove_user(str(conversation_id), str(user.id))
        report.add("redis", "presence_entries", removed)


async def erase_user(state: AppState, *, user: User, actor: User | None = None) -> ErasureReport:
    """Erases `user` and everything of theirs (docs/PRIVACY.md); returns counts per collection.

    Safe to run again after a crash, as long as the user document exists (it goes last).
    A writer still running for the user (a progress update, a reply's memory update) can land
    after the deletes: the per-user collections and the leaderboards get a second pass once
    the account is gone, after which the writers find no account to act for."""
    assert user.id is not None
    user_id = user.id
    report = ErasureReport(user_id=str(user_id))
    # 1. Refuse everything at once: REST (each request reloads the user), sockets, refresh.
    await users_service.set_disabled(state=state, user_id=user_id, disabled=True)
    scope = await _scope(user_id)
    own = await _own_message_ids(scope)
    await _stop_replies(state, user, scope, own)
    await state.progress.settle(grace_s=_SETTLE_SECONDS)
    # 2. What Redis needs, read before the documents that name it are gone.
    boards = await _leaderboard_boards(user)
    replies = await _recent_replies(scope, own, state.settings.socket_replay_ttl_seconds)
    # 3. MongoDB: messages before their conversations (a rerun still finds them by
    # conversation), the user's memberships, then everything keyed by the user.
    await _delete_messages(scope, own, report)
    for chunk in _chunks(scope.private):
        result = await Conversation.get_pymongo_collection().delete_many(
            {"_id": {"$in": chunk}, "user_id": user_id}
        )
        report.add("deleted", _name(Conversation), result.deleted_count)
    for conversation_id in scope.private:
        state.chat.stop_conversation(str(conversation_id))  # anything that slipped in here
    await _leave_groups(user_id, report)
    await _delete_per_user(user_id, report)
    # 4. Redis: leaderboards, replay streams, presence, rate-limit counters.
    await _clear_redis(
        state,
        user,
        boards=boards,
        replies=replies,
        conversations=[*scope.private, *scope.shared],
        report=report,
    )
    # 5. The account itself, last; then the second pass for late writers, and the audit.
    result = await User.get_pymongo_collection().delete_one({"_id": user_id})
    report.add("deleted", _name(User), result.deleted_count)
    await state.progress.settle(grace_s=_SETTLE_SECONDS)
    await _delete_per_user(user_id, report)
    await state.leaderboards.forget_user(user_id=user_id, boards=boards)
    await audit_service.record(
        action="privacy.erase",
        actor_id=(actor or user).id,
        org_id=user.org_id,
        target_type="user",
        target_id=str(user_id),
        details=report.model_dump(exclude={"user_id"}),
    )
    log.info("user erased", extra={"user_id": str(user_id), "deleted": report.deleted})
    return report
