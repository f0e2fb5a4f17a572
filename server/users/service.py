"""The `users` collection's one owner: accounts, the learner's own profile, and the account
switches admins use. Every other feature reads and writes users through these functions.

Every write of an existing account calls `_changed(user_id)` after it: `cached_user` (what
authentication reads on every request and socket connect) is kept by invalidation across
instances (`server/lookups.py`), so a write that skipped it would be seen late elsewhere."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from models import Profile, User
from models.common import utcnow
from models.user import Role
from server.auth import sessions as auth_sessions
from server.cluster import Cluster
from server.errors import Conflict, ValidationFailed
from server.lookups import InvalidatedCache
from server.pagination import newest_first
from server.users.schemas import ProfileUpdate, UserUpdate

_REQUIRED_PROFILE_FIELDS = {"display_name", "timezone", "language"}
_cache: InvalidatedCache[User] = InvalidatedCache("users:changed")


def attach_cache(cluster: Cluster) -> None:
    """The lifespan's control channel carries this process's invalidations to the others."""
    _cache.attach(cluster)


def detach_cache(cluster: Cluster) -> None:
    _cache.detach(cluster)


async def _changed(user_id: PydanticObjectId | None) -> None:
    """After every write of an existing account: no instance serves the old one any more."""
    if user_id is not None:
        await _cache.invalidate(user_id)


async def account_changed(*, user_id: PydanticObjectId) -> None:
    """For a write made outside this module (erasure's delete, a test or script writing the
    document directly): every instance reads the account afresh."""
    await _changed(user_id)


def _profile_changes(update: ProfileUpdate, fields: set[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in fields & set(ProfileUpdate.model_fields):
        value = getattr(update, name)
        if value is None and name in _REQUIRED_PROFILE_FIELDS:
            raise ValidationFailed(
                f"{name} cannot be empty.", details={"fields": [{"field": name}]}
            )
        changes[f"profile.{name}"] = value
    return changes


async def update_me(*, user: User, update: UserUpdate) -> User:
    """Sets only the fields sent, with one `$set`: no read-modify-write of the document."""
    changes: dict[str, Any] = {}
    if update.profile is not None:
        changes |= _profile_changes(update.profile, update.profile.model_fields_set)
    changes |= _profile_changes(update, update.model_fields_set - {"profile"})
    if "preferred_provider" in update.model_fields_set:
        changes["preferred_provider"] = update.preferred_provider
    if changes:
        changes["updated_at"] = utcnow()
        await User.find_one(User.id == user.id).update({"$set": changes})
        await _changed(user.id)
    refreshed = await User.get(user.id)
    assert refreshed is not None
    return refreshed


async def set_disabled(
    *, state: auth_sessions.SessionState, user_id: PydanticObjectId, disabled: bool
) -> bool:
    """Disables (or re-enables) an account. Disabling ends every session at once: refresh
    tokens are revoked, access tokens answer 401 `session_revoked` on every instance, and the
    user's sockets are disconnected (re-enabling does not revive them: the user logs in
    again). Returns whether the user exists."""
    result = await User.get_pymongo_collection().update_one(
        {"_id": user_id}, {"$set": {"disabled": disabled, "updated_at": utcnow()}}
    )
    if result.matched_count == 0:
        return False
    await _changed(user_id)
    if disabled:
        await auth_sessions.end_all_sessions(state, user_id=user_id, reason="disabled")
    return True


async def get_user(*, user_id: PydanticObjectId) -> User | None:
    """The account by id, disabled or not (callers decide what a disabled account may do)."""
    return await User.get(user_id)


async def cached_user(*, user_id: PydanticObjectId) -> User | None:
    """`get_user` served from this process's cache (no database command when cached), kept
    current by every write here invalidating it on all instances: what authentication reads
    for every request and socket. The document is shared: never mutate it."""
    return await _cache.get(user_id, lambda: User.get(user_id))


async def find_by_email(*, email: str) -> User | None:
    """Served by the unique `email` index; emails are stored lower-cased, so is `email` here."""
    return await User.find_one({"email": email.lower()})


async def find_by_legacy_id(*, legacy_id: str) -> User | None:
    """Served by `legacy_id_unique`: the old bot's id an imported learner keeps."""
    return await User.find_one({"legacy_id": legacy_id})


def draft_user(
    *,
    email: str,
    password_hash: str | None,
    org_id: PydanticObjectId,
    profile: Profile,
    role: Role = "learner",
    legacy_id: str | None = None,
    user_id: PydanticObjectId | None = None,
) -> User:
    """A new account with its id, not stored: what `create_user` inserts, and what a dry run
    (`import_profiles --dry-run`) plans with. `user_id`: an id chosen beforehand (single
    sign-on links the provider's account to it before the account exists)."""
    return User(
        id=user_id or PydanticObjectId(),
        email=email.lower(),
        password_hash=password_hash,
        role=role,
        org_id=org_id,
        profile=profile,
        legacy_id=legacy_id,
    )


async def create_user(
    *,
    email: str,
    password_hash: str | None,
    org_id: PydanticObjectId,
    profile: Profile,
    role: Role = "learner",
    legacy_id: str | None = None,
    user_id: PydanticObjectId | None = None,
) -> User:
    """Inserts a new account. Race-free: the unique indexes on `email` and `legacy_id`
    decide between two concurrent sign-ups, and the loser gets 409 `email_taken`."""
    user = draft_user(
        email=email,
        password_hash=password_hash,
        org_id=org_id,
        profile=profile,
        role=role,
        legacy_id=legacy_id,
        user_id=user_id,
    )
    try:
        return await user.insert()
    except DuplicateKeyError as exc:
        raise Conflict("An account with this email already exists.", code="email_taken") from exc


async def set_role(*, user_id: PydanticObjectId, role: Role) -> Role | None:
    """Sets the role in one atomic update and returns the role it replaced (None: no such
    user), so an audit entry names the true previous value even under concurrent changes."""
    before = await User.get_pymongo_collection().find_one_and_update(
        {"_id": user_id},
        {"$set": {"role": role, "updated_at": utcnow()}},
        projection={"role": 1},
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        return None
    await _changed(user_id)
    previous: Role = before["role"]
    return previous


async def set_password_hash(*, user_id: PydanticObjectId, password_hash: str) -> bool:
    """Replaces the stored hash (never the password itself); returns whether the user exists."""
    result = await User.get_pymongo_collection().update_one(
        {"_id": user_id}, {"$set": {"password_hash": password_hash, "updated_at": utcnow()}}
    )
    await _changed(user_id)
    return result.matched_count == 1


# An imported learner (`scripts/import_profiles.py`) nobody has taken over yet: a legacy id,
# no password, not disabled. Claiming sets the password, so a claimed account never matches.
UNCLAIMED: dict[str, Any] = {
    "legacy_id": {"$type": "string"},
    "password_hash": None,
    "disabled": False,
}


def is_unclaimed(user: User) -> bool:
    """`UNCLAIMED` for an account already read."""
    return user.legacy_id is not None and user.password_hash is None and not user.disabled


async def claim_account(
    *, user_id: PydanticObjectId, email: str, password_hash: str, display_name: str | None
) -> User | None:
    """Gives an unclaimed imported account its email and password in one conditional update:
    either all of it is written or nothing. None: the account is not (or no longer)
    claimable. 409 `email_taken` from the unique email index when another account has taken
    the address meanwhile (nothing changed then either)."""
    changes: dict[str, Any] = {
        "email": email.lower(),
        "password_hash": password_hash,
        "updated_at": utcnow(),
    }
    if display_name is not None:
        changes["profile.display_name"] = display_name
    try:
        result = await User.get_pymongo_collection().update_one(
            {"_id": user_id, **UNCLAIMED}, {"$set": changes}
        )
    except DuplicateKeyError as exc:
        raise Conflict("An account with this email already exists.", code="email_taken") from exc
    if result.modified_count == 0:
        return None
    await _changed(user_id)
    return await User.get(user_id)


def _search(q: str) -> dict[str, Any]:
    """Email prefix (emails are stored lower-cased), display name substring, exact id or
    legacy id. Admin-only and paged, so a filtered walk of the `recent` index is fine."""
    text = q.strip()
    clauses: list[dict[str, Any]] = [
        {"email": {"$regex": "^" + re.escape(text.lower())}},
        {"profile.display_name": {"$regex": re.escape(text), "$options": "i"}},
        {"legacy_id": text},
    ]
    if ObjectId.is_valid(text):
        clauses.append({"_id": ObjectId(text)})
    return {"$or": clauses}


async def page_users(
    *,
    org_id: PydanticObjectId | None,
    role: Role | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[User], str | None]:
    """Newest first, optionally one organization's (`org_recent`, `org_role_recent`) and
    one role's; `q` filters by email prefix, display name, id or legacy id."""
    query: dict[str, Any] = {}
    if org_id is not None:
        query["org_id"] = org_id
    if role is not None:
        query["role"] = role
    if q and q.strip():
        query |= _search(q)
    return await newest_first(User, query, "created_at", limit=limit, cursor=cursor)


async def users_by_ids(*, user_ids: Collection[PydanticObjectId]) -> dict[PydanticObjectId, User]:
    """The accounts among `user_ids` that exist, by id (one `$in` query)."""
    if not user_ids:
        return {}
    found = await User.find({"_id": {"$in": list(user_ids)}}).to_list()
    return {u.id: u for u in found if u.id is not None}


async def display_names(*, user_ids: Collection[PydanticObjectId]) -> dict[PydanticObjectId, str]:
    """Display names by id, reading only that field: enough for boards and member lists."""
    if not user_ids:
        return {}
    cursor = User.get_pymongo_collection().find(
        {"_id": {"$in": list(user_ids)}}, projection={"profile.display_name": 1}
    )
    return {
        PydanticObjectId(raw["_id"]): str(raw.get("profile", {}).get("display_name") or "")
        async for raw in cursor
    }


async def disabled_by_id(*, user_ids: Collection[PydanticObjectId]) -> dict[PydanticObjectId, bool]:
    """Whether each existing account among `user_ids` is disabled (a missing one is absent):
    one `$in` query reading only that flag, cheap enough for the socket gateway's heartbeat to
    re-check every connected user."""
    if not user_ids:
        return {}
    cursor = User.get_pymongo_collection().find(
        {"_id": {"$in": list(user_ids)}}, projection={"disabled": 1}
    )
    return {PydanticObjectId(raw["_id"]): bool(raw.get("disabled")) async for raw in cursor}
