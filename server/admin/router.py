"""The admin API (docs/ADMIN.md). Thin: scope and rules live in the admin services."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from models import User
from models.user import Role
from server.admin import identities, orgs, usage, users
from server.admin.schemas import (
    AdminUser,
    AdminUserPage,
    AdminUserUpdate,
    AuditEntry,
    AuditPage,
    LearnerDetail,
    OrgCreate,
    OrgPage,
    OrgPublic,
    OrgUpdate,
    UsageReport,
)
from server.audit import service as audit
from server.auth import claim
from server.auth.oidc_schemas import IdentityPage, IdentityPublic
from server.auth.schemas import ClaimInviteRequest, ClaimInviteResponse
from server.dashboards import learner as learner_dashboard
from server.deps import AdminUser as Admin
from server.deps import State, require_role
from server.errors import ValidationFailed
from server.ids import object_id
from server.memory import service as memory
from server.privacy import service as privacy
from server.schemas import PAGED, error_responses

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    responses=error_responses(
        {403: "`forbidden`: admins only (mentors too where the summary says so)."}
    ),
)
_USER_NOT_FOUND = error_responses({404: "`user_not_found`."})
_ORG_NOT_FOUND = error_responses({404: "`org_not_found`."})
_NOT_SELF = error_responses({422: "`cannot_change_self`: not on the admin's own account."})
Staff = Annotated[User, Depends(require_role("admin", "mentor"))]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=512)]
Search = Annotated[str | None, Query(max_length=100)]


@router.get(
    "/users", summary="Users in the admin's scope, newest first; `q` searches", responses=PAGED
)
async def list_users(
    admin: Admin,
    state: State,
    limit: Limit = 20,
    cursor: Cursor = None,
    q: Search = None,
    role: Role | None = None,
    org_id: Annotated[str | None, Query(max_length=64)] = None,
) -> AdminUserPage:
    scope = await users.scope_of(admin, state.settings)
    docs, next_cursor = await users.list_users(
        scope=scope, limit=limit, cursor=cursor, q=q, role=role, org_id=org_id
    )
    return AdminUserPage(items=[AdminUser.from_doc(d) for d in docs], next_cursor=next_cursor)


@router.get(
    "/learners",
    summary="Learners of the caller's organization (mentors and admins)",
    responses=PAGED,
)
async def list_learners(
    staff: Staff, state: State, limit: Limit = 20, cursor: Cursor = None, q: Search = None
) -> AdminUserPage:
    scope = await users.scope_of(staff, state.settings)
    docs, next_cursor = await users.list_users(
        scope=scope, limit=limit, cursor=cursor, q=q, role="learner"
    )
    return AdminUserPage(items=[AdminUser.from_doc(d) for d in docs], next_cursor=next_cursor)


@router.get(
    "/users/{user_id}",
    summary="One user with memory and progress (audited read; mentors and admins)",
    responses=_USER_NOT_FOUND,
)
async def get_user(user_id: str, staff: Staff, state: State) -> LearnerDetail:
    target = await users.get_in_scope(actor=staff, settings=state.settings, user_id=user_id)
    await users.record_read(actor=staff, target=target, what="detail")
    return LearnerDetail(
        user=AdminUser.from_doc(target),
        memory={"weak_topics": await memory.weak_topics(target.id)},
        progress=await learner_dashboard.progress_for(user=target, progress=state.progress),
    )


@router.patch(
    "/users/{user_id}",
    summary="Change a user's role or disable them (audited)",
    responses=_USER_NOT_FOUND | _NOT_SELF,
)
async def patch_user(user_id: str, body: AdminUserUpdate, admin: Admin, state: State) -> AdminUser:
    return AdminUser.from_doc(
        await users.update(state=state, actor=admin, user_id=user_id, body=body)
    )


@router.get(
    "/users/{user_id}/export",
    summary="All of a user's data (a data-subject request)",
    responses=_USER_NOT_FOUND,
)
async def export_user(user_id: str, admin: Admin, state: State) -> dict[str, Any]:
    target = await users.get_in_scope(actor=admin, settings=state.settings, user_id=user_id)
    return await privacy.export_user(target, actor=admin)


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase a user and their data (an audit entry remains)",
    responses=_USER_NOT_FOUND | _NOT_SELF,
)
async def erase_user(user_id: str, admin: Admin, state: State) -> Response:
    target = await users.get_in_scope(actor=admin, settings=state.settings, user_id=user_id)
    if target.id == admin.id:
        raise ValidationFailed(
            "Use DELETE /users/me to erase your own account.", code="cannot_change_self"
        )
    await privacy.erase_user(state, user=target, actor=admin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/users/{user_id}/claim-invite",
    status_code=status.HTTP_201_CREATED,
    summary="Mail an imported learner a link to claim the account (admins; the learner's mentor)",
    responses=_USER_NOT_FOUND
    | error_responses(
        {
            409: "`account_not_claimable` (not imported, or claimed already) or `email_taken`.",
            429: "`rate_limited`: too many invitations for this account or by this caller.",
        }
    ),
)
async def claim_invite(
    user_id: str, body: ClaimInviteRequest, staff: Staff, state: State
) -> ClaimInviteResponse:
    expires_at = await claim.invite(state=state, actor=staff, user_id=user_id, email=body.email)
    return ClaimInviteResponse(expires_at=expires_at)


@router.get(
    "/users/{user_id}/identities",
    summary="A user's single sign-on identities, newest first (admins)",
    responses=_USER_NOT_FOUND | PAGED,
)
async def list_identities(
    user_id: str, admin: Admin, state: State, limit: Limit = 20, cursor: Cursor = None
) -> IdentityPage:
    docs, next_cursor = await identities.list_for_user(
        actor=admin, settings=state.settings, user_id=user_id, limit=limit, cursor=cursor
    )
    return IdentityPage(items=[IdentityPublic.from_doc(d) for d in docs], next_cursor=next_cursor)


@router.delete(
    "/users/{user_id}/identities/{identity_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unlink a single sign-on identity from a user (admins; audited)",
    responses=error_responses({404: "`user_not_found` or `identity_not_found`."}),
)
async def unlink_identity(user_id: str, identity_id: str, admin: Admin, state: State) -> Response:
    await identities.unlink(
        actor=admin, settings=state.settings, user_id=user_id, identity_id=identity_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/orgs", summary="Organizations in the admin's scope", responses=PAGED)
async def list_orgs(
    admin: Admin, state: State, limit: Limit = 20, cursor: Cursor = None
) -> OrgPage:
    scope = await users.scope_of(admin, state.settings)
    docs, next_cursor = await orgs.list_page(scope=scope, limit=limit, cursor=cursor)
    return OrgPage(items=[OrgPublic.from_doc(d) for d in docs], next_cursor=next_cursor)


@router.post(
    "/orgs",
    status_code=status.HTTP_201_CREATED,
    summary="Create an organization (admins of the deployment's own organization)",
    responses=error_responses({409: "`org_slug_taken`."}),
)
async def create_org(body: OrgCreate, admin: Admin, state: State) -> OrgPublic:
    scope = await users.scope_of(admin, state.settings)
    return OrgPublic.from_doc(await orgs.create(actor=admin, scope=scope, body=body))


@router.get("/orgs/{org_id}", summary="One organization", responses=_ORG_NOT_FOUND)
async def get_org(org_id: str, admin: Admin, state: State) -> OrgPublic:
    scope = await users.scope_of(admin, state.settings)
    return OrgPublic.from_doc(await orgs.get(scope=scope, org_id=org_id))


@router.patch(
    "/orgs/{org_id}",
    summary="Allowed AI providers, budget, sign-up, SSO domains (audited)",
    responses=_ORG_NOT_FOUND
    | error_responses(
        {
            409: "`sso_domain_taken`: another organization lists one of `sso_domains`.",
            422: "`budget_above_ceiling`: an organization's own admin may not raise the "
            "learner budget above `AI_MAX_DAILY_BUDGET_USD`.",
        }
    ),
)
async def patch_org(org_id: str, body: OrgUpdate, admin: Admin, state: State) -> OrgPublic:
    scope = await users.scope_of(admin, state.settings)
    org = await orgs.update(
        actor=admin,
        scope=scope,
        org_id=org_id,
        body=body,
        budget_ceiling_usd=state.settings.ai_max_daily_budget_usd,
    )
    return OrgPublic.from_doc(org)


@router.get(
    "/usage",
    summary="AI tokens and cost per provider per day",
    response_model_by_alias=True,
    responses=_ORG_NOT_FOUND
    | error_responses({422: "`invalid_range`: `from` after `to`, or a range too long."}),
)
async def usage_report(
    admin: Admin,
    state: State,
    from_day: Annotated[date | None, Query(alias="from")] = None,
    to_day: Annotated[date | None, Query(alias="to")] = None,
    org_id: Annotated[str | None, Query(max_length=64)] = None,
) -> UsageReport:
    scope = await users.scope_of(admin, state.settings)
    wanted = scope
    if org_id is not None:
        wanted = (await orgs.get(scope=scope, org_id=org_id)).id
    return await usage.report(org_id=wanted, from_day=from_day, to_day=to_day)


@router.get("/audit", summary="The audit log, newest first", responses=_ORG_NOT_FOUND | PAGED)
async def list_audit(
    admin: Admin,
    state: State,
    limit: Limit = 50,
    cursor: Cursor = None,
    org_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPage:
    scope = await users.scope_of(admin, state.settings)
    wanted = scope
    if org_id is not None:
        wanted = object_id(org_id, orgs.org_not_found)
        if scope is not None and wanted != scope:
            raise orgs.org_not_found()
    docs, next_cursor = await audit.page(org_id=wanted, limit=limit, cursor=cursor, action=action)
    return AuditPage(items=[AuditEntry.from_doc(d) for d in docs], next_cursor=next_cursor)
