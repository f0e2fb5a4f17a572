"""Admins manage accounts; mentors read their organization's learners.

Scope: an admin of the deployment's own organization (`DEFAULT_ORG_SLUG`, where
`create_admin` puts the operator) sees every organization; an admin of any other organization
sees only that one. Anything outside the caller's scope is 404, never 403, like every other
object of another organization.
"""

from __future__ import annotations

from beanie import PydanticObjectId

from models import User
from models.user import Role
from server.admin.schemas import AdminUserUpdate
from server.audit import service as audit
from server.config import Settings
from server.errors import Forbidden, NotFound, ValidationFailed
from server.ids import object_id
from server.orgs import service as orgs_service
from server.state import AppState
from server.users import service as users_service


def user_not_found() -> NotFound:
    return NotFound("User not found.", code="user_not_found")


async def scope_of(actor: User, settings: Settings) -> PydanticObjectId | None:
    """The organization the caller may manage, or None for all of them (see the module doc)."""
    if actor.role == "admin":
        org = await orgs_service.get_org(org_id=actor.org_id)
        if org is not None and org.slug == settings.default_org_slug:
            return None
    return actor.org_id


async def list_users(
    *,
    scope: PydanticObjectId | None,
    limit: int,
    cursor: str | None,
    q: str | None = None,
    role: Role | None = None,
    org_id: str | None = None,
) -> tuple[list[User], str | None]:
    """Email prefix, display name, id or legacy id (`q`), within the caller's scope."""
    wanted = scope
    if org_id is not None:
        wanted = object_id(org_id, lambda: ValidationFailed("org_id is not a valid id."))
        if scope is not None and wanted != scope:
            return [], None  # another organization: nothing to see, and nothing confirmed
    return await users_service.page_users(org_id=wanted, role=role, q=q, limit=limit, cursor=cursor)


async def get_in_scope(
    *, actor: User, settings: Settings, user_id: str, learners_only: bool = False
) -> User:
    """The user, if the caller may see them: admins within their scope; mentors only the
    learners of their own organization."""
    user = await users_service.get_user(user_id=object_id(user_id, user_not_found))
    if user is None:
        raise user_not_found()
    scope = await scope_of(actor, settings)
    if scope is not None and user.org_id != scope:
        raise user_not_found()
    if (learners_only or actor.role == "mentor") and user.role != "learner":
        raise user_not_found()
    return user


async def update(*, state: AppState, actor: User, user_id: str, body: AdminUserUpdate) -> User:
    """Role and disabled, each one atomic update whose previous value the audit entry keeps.
    Admins cannot change their own role or disable themselves: no locking oneself out."""
    if actor.role != "admin":
        raise Forbidden("Only admins change accounts.", code="forbidden")
    target = await get_in_scope(actor=actor, settings=state.settings, user_id=user_id)
    assert target.id is not None
    fields = body.model_fields_set
    if target.id == actor.id and (
        ("role" in fields and body.role != actor.role) or ("disabled" in fields and body.disabled)
    ):
        raise ValidationFailed(
            "Admins cannot change their own role or disable themselves.", code="cannot_change_self"
        )
    if "role" in fields and body.role is not None:
        before = await users_service.set_role(user_id=target.id, role=body.role)
        if before is None:
            raise user_not_found()
        if before != body.role:
            await audit.record(
                action="user.role_change",
                actor_id=actor.id,
                org_id=target.org_id,
                target_type="user",
                target_id=str(target.id),
                details={"from": before, "to": body.role},
            )
    if "disabled" in fields and body.disabled is not None and body.disabled != target.disabled:
        await users_service.set_disabled(state=state, user_id=target.id, disabled=body.disabled)
        await audit.record(
            action="user.disable" if body.disabled else "user.enable",
            actor_id=actor.id,
            org_id=target.org_id,
            target_type="user",
            target_id=str(target.id),
        )
    refreshed = await users_service.get_user(user_id=target.id)
    if refreshed is None:
        raise user_not_found()
    return refreshed


async def record_read(*, actor: User, target: User, what: str) -> None:
    """Every admin or mentor read of one learner's data leaves a trace (issue 7)."""
    await audit.record(
        action="admin.read_user",
        actor_id=actor.id,
        org_id=target.org_id,
        target_type="user",
        target_id=str(target.id),
        details={"view": what},
    )
