"""Export and erasure of a user's study-group memberships (docs/PRIVACY.md)."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from models import StudyGroup
from server.conversations import privacy as conversations_privacy
from server.groups import service as groups_service
from server.privacy.registry import (
    ErasureContext,
    ExportContext,
    PrivacyContext,
    PrivacyRegistry,
    collection_name,
)


async def _shared_by_groups(ctx: PrivacyContext) -> set[PydanticObjectId]:
    """A group conversation the user owns is shared while the group has anyone else in it."""
    owned = await ctx.facts.get(conversations_privacy.OWNED)
    shared: set[PydanticObjectId] = set()
    async for raw in StudyGroup.get_pymongo_collection().find(
        {"conversation_id": {"$in": list(owned)}}, {"conversation_id": 1, "members.user_id": 1}
    ):
        if any(m.get("user_id") != ctx.user_id for m in raw.get("members", [])):
            shared.add(raw["conversation_id"])
    return shared


async def _export(ctx: ExportContext) -> list[dict[str, Any]]:
    user_id = ctx.user_id
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


async def _leave(ctx: ErasureContext) -> None:
    """Groups the user created pass to another member (their conversation with them): the
    longest-standing mentor, else the longest-standing member; a group with nobody else in
    it goes. Then the user leaves every group."""
    user_id = ctx.user_id
    groups = StudyGroup.get_pymongo_collection()
    async for raw in groups.find({"created_by": user_id}):
        group = StudyGroup.model_validate(raw)
        others = sorted(
            (m for m in group.members if m.user_id != user_id),
            key=lambda m: (m.role != "mentor", m.joined_at),
        )
        if not others:
            # Its conversation was private to the user: deleted with the others.
            gone = await groups.delete_one({"_id": group.id})
            ctx.report.add("deleted", collection_name(StudyGroup), gone.deleted_count)
            await conversations_privacy.delete_owned(
                conversation_id=group.conversation_id, owner_id=user_id
            )
            continue
        heir = others[0].user_id
        await conversations_privacy.hand_over(
            conversation_id=group.conversation_id, owner_id=user_id, heir_id=heir
        )
        await groups.update_one({"_id": group.id}, {"$set": {"created_by": heir}})
        ctx.report.add("updated", "study_groups_handed_over", 1)
    result = await groups.update_many(
        {"members.user_id": user_id}, {"$pull": {"members": {"user_id": user_id}}}
    )
    await groups_service.memberships_changed(user_id=user_id)
    ctx.report.add("updated", collection_name(StudyGroup), result.modified_count)


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.provide(conversations_privacy.SHARED_ELSEWHERE, _shared_by_groups)
    registry.register_export("study_groups", _export, collections=(StudyGroup,))
    registry.register_erase("groups.leave", _leave, phase="hand_over", collections=(StudyGroup,))
