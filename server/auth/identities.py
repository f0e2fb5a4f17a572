"""The `user_identities` collection's queries: which provider accounts sign in as which user.

Owned by `server.auth`; admins reach it through these functions (`server/admin/identities.py`),
privacy through `server/auth/privacy.py`.
"""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from models import UserIdentity
from models.common import utcnow
from server.pagination import newest_first


async def find(*, issuer: str, subject: str) -> UserIdentity | None:
    """Served by `issuer_subject_unique`."""
    return await UserIdentity.find_one({"issuer": issuer, "subject": subject})


async def link(
    *, user_id: PydanticObjectId, provider: str, issuer: str, subject: str
) -> tuple[UserIdentity, bool]:
    """Links `(issuer, subject)` to the user. Returns the identity and whether this call made
    it: when two first logins of one person race, the unique index lets one link, and the other
    gets the winner's identity (False) to sign in with."""
    identity = UserIdentity(user_id=user_id, provider=provider, issuer=issuer, subject=subject)
    try:
        return await identity.insert(), True
    except DuplicateKeyError:
        existing = await find(issuer=issuer, subject=subject)
        if existing is None:  # unlinked again in between: a link is a link, say so
            raise
        return existing, False


async def touch(*, identity_id: PydanticObjectId) -> None:
    await UserIdentity.get_pymongo_collection().update_one(
        {"_id": identity_id}, {"$set": {"last_login_at": utcnow()}}
    )


async def remove(*, identity_id: PydanticObjectId) -> None:
    """Undoes a link whose account could not be made (`server.auth.oidc`)."""
    await UserIdentity.get_pymongo_collection().delete_one({"_id": identity_id})


async def page_for_user(
    *, user_id: PydanticObjectId, limit: int, cursor: str | None
) -> tuple[list[UserIdentity], str | None]:
    """Newest first, served by `user_recent`."""
    return await newest_first(
        UserIdentity, {"user_id": user_id}, "created_at", limit=limit, cursor=cursor
    )


async def unlink(*, user_id: PydanticObjectId, identity_id: PydanticObjectId) -> bool:
    """Removes one identity of the user; False when the user has no such identity (also when
    it belongs to someone else: the caller answers 404 either way)."""
    result = await UserIdentity.get_pymongo_collection().delete_one(
        {"_id": identity_id, "user_id": user_id}
    )
    return result.deleted_count == 1


async def export_for_user(*, user_id: PydanticObjectId) -> list[dict[str, Any]]:
    return [
        {
            "provider": identity.provider,
            "issuer": identity.issuer,
            "subject": identity.subject,
            "created_at": identity.created_at.isoformat(),
            "last_login_at": identity.last_login_at.isoformat(),
        }
        async for identity in UserIdentity.find({"user_id": user_id}).sort("created_at")
    ]


async def delete_for_user(*, user_id: PydanticObjectId) -> int:
    result = await UserIdentity.get_pymongo_collection().delete_many({"user_id": user_id})
    return result.deleted_count
