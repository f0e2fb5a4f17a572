"""Admins see and unlink the single sign-on identities of the users in their scope
(docs/ACCOUNTS.md). The identities belong to `server.auth`; this is the admin's view of them."""

from __future__ import annotations

from models import User, UserIdentity
from server.admin.users import get_in_scope
from server.audit import service as audit
from server.auth import identities
from server.config import Settings
from server.errors import NotFound
from server.ids import object_id


def identity_not_found() -> NotFound:
    return NotFound("Identity not found.", code="identity_not_found")


async def list_for_user(
    *, actor: User, settings: Settings, user_id: str, limit: int, cursor: str | None
) -> tuple[list[UserIdentity], str | None]:
    user = await get_in_scope(actor=actor, settings=settings, user_id=user_id)
    assert user.id is not None
    return await identities.page_for_user(user_id=user.id, limit=limit, cursor=cursor)


async def unlink(*, actor: User, settings: Settings, user_id: str, identity_id: str) -> None:
    """The provider account no longer signs in as this user; its next login is a first login
    again (linked by verified email, or a new account). Sessions already started go on: an
    admin who wants them ended disables the account."""
    user = await get_in_scope(actor=actor, settings=settings, user_id=user_id)
    assert user.id is not None
    wanted = object_id(identity_id, identity_not_found)
    if not await identities.unlink(user_id=user.id, identity_id=wanted):
        raise identity_not_found()
    await audit.record(
        action="auth.sso_unlink",
        actor_id=actor.id,
        org_id=user.org_id,
        target_type="user_identity",
        target_id=str(wanted),
        details={"user_id": str(user.id)},
    )
