"""The account's part of export and erasure (docs/PRIVACY.md): disabled first, deleted last."""

from __future__ import annotations

from typing import Any

from models import Organization, User
from server.orgs import service as orgs_service
from server.privacy.registry import ErasureContext, ExportContext, PrivacyRegistry, collection_name
from server.users import service as users_service


async def _export(ctx: ExportContext) -> dict[str, Any]:
    """Named field by field, so a secret added to `User` later can never slip into exports."""
    user = ctx.user
    org = await orgs_service.get_org(org_id=user.org_id)
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


async def _disable(ctx: ErasureContext) -> None:
    """Refuses everything at once: REST (each request reloads the user), sockets on every
    instance, refresh tokens."""
    await users_service.set_disabled(state=ctx.state, user_id=ctx.user_id, disabled=True)


async def _delete(ctx: ErasureContext) -> None:
    """Last: as long as the document exists, an admin can run the erasure again."""
    result = await User.get_pymongo_collection().delete_one({"_id": ctx.user_id})
    await users_service.account_changed(user_id=ctx.user_id)
    ctx.report.add("deleted", collection_name(User), result.deleted_count)


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.register_export("user", _export, collections=(User, Organization))
    registry.register_erase("users.disable", _disable, phase="disable")
    registry.register_erase("users.delete", _delete, phase="account", collections=(User,))
