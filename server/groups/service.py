"""Study groups. Membership changes are single conditional updates (join twice: one member),
and the group conversation's `member_ids` follows them, so members can join it live."""

from __future__ import annotations

import secrets
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from models import StudyGroup, User
from models.study_group import GroupMember
from server.cluster import Cluster
from server.conversations import service as conversations
from server.errors import Conflict, Forbidden, NotFound
from server.groups.schemas import GroupCreate, GroupJoin
from server.ids import object_id
from server.lookups import InvalidatedCache
from server.pagination import newest_first

_CODE_BYTES = 6  # 8 URL-safe characters: 2^48 codes, unguessable at any sane request rate


# The groups each user belongs to, read by every library search (chat grounding included);
# every membership write invalidates its user on all instances (server/lookups.py).
_memberships: InvalidatedCache[list[PydanticObjectId]] = InvalidatedCache("groups:members")


def attach_cache(cluster: Cluster) -> None:
    _memberships.attach(cluster)


def detach_cache(cluster: Cluster) -> None:
    _memberships.detach(cluster)


async def memberships_changed(*, user_id: PydanticObjectId) -> None:
    """After any write of `user_id`'s memberships (here, erasure): every instance re-reads."""
    await _memberships.invalidate(user_id)


def _not_found() -> NotFound:
    return NotFound("Study group not found.", code="group_not_found")


def can_manage(user: User, group: StudyGroup) -> bool:
    """Mentors of the group and admins of its organization see the invite code."""
    if user.role == "admin" and user.org_id == group.org_id:
        return True
    return any(m.user_id == user.id and m.role == "mentor" for m in group.members)


async def create(*, user: User, body: GroupCreate) -> StudyGroup:
    if user.role not in ("mentor", "admin"):
        raise Forbidden("Only mentors and admins create study groups.", code="forbidden")
    assert user.id is not None
    # The conversation first: a crash before the group leaves an empty conversation, never a
    # group whose conversation is missing.
    conversation = await conversations.create_shared(owner=user, title=body.name)
    assert conversation.id is not None
    for _ in range(5):
        group = StudyGroup(
            org_id=user.org_id,
            name=body.name,
            created_by=user.id,
            members=[GroupMember(user_id=user.id, role="mentor")],
            invite_code=secrets.token_urlsafe(_CODE_BYTES),
            conversation_id=conversation.id,
        )
        try:
            created = await group.insert()
        except DuplicateKeyError:
            continue  # an invite code collision: draw another
        await memberships_changed(user_id=user.id)
        return created
    raise Conflict("Could not allocate an invite code; try again.", code="invite_code_taken")


async def join(*, user: User, body: GroupJoin) -> StudyGroup:
    """Idempotent: the filter refuses a second copy of the member, so racing joins add one."""
    assert user.id is not None
    collection = StudyGroup.get_pymongo_collection()
    member = GroupMember(user_id=user.id, role="member").model_dump()
    scope = {"invite_code": body.invite_code, "org_id": user.org_id}
    await collection.update_one(
        scope | {"members.user_id": {"$ne": user.id}}, {"$push": {"members": member}}
    )
    await memberships_changed(user_id=user.id)
    group = await StudyGroup.find_one(scope)
    if group is None:
        raise _not_found()
    # Also re-run by a repeated join, which repairs a crash between the two writes.
    await conversations.add_member(conversation_id=group.conversation_id, user_id=user.id)
    return group


async def get_visible(*, user: User, group_id: str) -> StudyGroup:
    """A member's group, or any group of an admin's organization; otherwise not found."""
    query: dict[str, Any] = {"_id": object_id(group_id, _not_found), "org_id": user.org_id}
    if user.role != "admin":
        query["members.user_id"] = user.id
    group = await StudyGroup.find_one(query)
    if group is None:
        raise _not_found()
    return group


async def leave(*, user: User, group_id: str, cluster: Cluster) -> None:
    """Leaving also ends the learner's live view of the group's conversation: their sockets
    leave its room on every instance (announced after the write, see `announce_access_lost`)."""
    group = await get_visible(user=user, group_id=group_id)
    if group.created_by == user.id:
        raise Conflict("The group's creator cannot leave it.", code="owner_cannot_leave")
    await StudyGroup.get_pymongo_collection().update_one(
        {"_id": group.id}, {"$pull": {"members": {"user_id": user.id}}}
    )
    assert user.id is not None
    await memberships_changed(user_id=user.id)
    await conversations.remove_member(conversation_id=group.conversation_id, user_id=user.id)
    await conversations.announce_access_lost(
        cluster=cluster, conversation_id=group.conversation_id, user_ids=[user.id], reason="left"
    )


async def list_mine(
    *, user: User, limit: int, cursor: str | None
) -> tuple[list[StudyGroup], str | None]:
    query: dict[str, Any] = {"members.user_id": user.id}
    return await newest_first(StudyGroup, query, "created_at", limit=limit, cursor=cursor)


async def member_group_ids(*, user_id: PydanticObjectId) -> list[PydanticObjectId]:
    """The groups a user belongs to (any role): what the study library lets them read.
    Cached per process, invalidated on every instance by each membership write."""

    async def load() -> list[PydanticObjectId]:
        cursor = StudyGroup.get_pymongo_collection().find({"members.user_id": user_id}, {"_id": 1})
        return [PydanticObjectId(raw["_id"]) async for raw in cursor]

    return list(await _memberships.get(user_id, load) or [])


async def conversation_group_id(
    *, conversation_id: PydanticObjectId, member_id: PydanticObjectId
) -> PydanticObjectId | None:
    """The group whose shared conversation this is, if `member_id` is one of its members
    (what the chat grounds a group conversation in; served by the `member_recent` index)."""
    raw = await StudyGroup.get_pymongo_collection().find_one(
        {"members.user_id": member_id, "conversation_id": conversation_id}, {"_id": 1}
    )
    return None if raw is None else PydanticObjectId(raw["_id"])


def is_group_mentor(*, user: User, group: StudyGroup) -> bool:
    """A mentor member of the group (not merely an admin of its organization)."""
    return any(m.user_id == user.id and m.role == "mentor" for m in group.members)


async def find_created(
    *, org_id: PydanticObjectId, name: str, created_by: PydanticObjectId
) -> StudyGroup | None:
    """A group one mentor created under a name: how `seed --demo` finds its group again."""
    return await StudyGroup.find_one({"org_id": org_id, "name": name, "created_by": created_by})
