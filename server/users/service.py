"""The learner's own profile, and the account switches admins use."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from models import User
from models.common import utcnow
from server.auth import sessions as auth_sessions
from server.errors import ValidationFailed
from server.state import AppState
from server.users.schemas import ProfileUpdate, UserUpdate

_REQUIRED_PROFILE_FIELDS = {"display_name", "timezone", "language"}


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
    refreshed = await User.get(user.id)
    assert refreshed is not None
    return refreshed


async def set_disabled(*, state: AppState, user_id: PydanticObjectId, disabled: bool) -> bool:
    """Disables (or re-enables) an account. Disabling ends every session at once: refresh
    tokens are revoked, access tokens answer 401 `session_revoked` on every instance, and the
    user's sockets are disconnected (re-enabling does not revive them: the user logs in
    again). Returns whether the user exists."""
    result = await User.get_pymongo_collection().update_one(
        {"_id": user_id}, {"$set": {"disabled": disabled, "updated_at": utcnow()}}
    )
    if result.matched_count == 0:
        return False
    if disabled:
        await auth_sessions.end_all_sessions(state, user_id=user_id, reason="disabled")
    return True
