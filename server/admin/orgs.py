"""Organizations as admins manage them: which AI providers they may use and their budgets.

Only an admin of the deployment's own organization creates organizations or sees them all;
an organization's own admin reads and edits that one (see `server.admin.users.scope_of`).
"""

from __future__ import annotations

from beanie import PydanticObjectId

from models import Organization, User
from server.admin.schemas import OrgCreate, OrgUpdate
from server.audit import service as audit
from server.errors import Forbidden, NotFound, ValidationFailed
from server.ids import object_id
from server.orgs import service as orgs_service


def org_not_found() -> NotFound:
    return NotFound("Organization not found.", code="org_not_found")


async def list_page(
    *, scope: PydanticObjectId | None, limit: int, cursor: str | None
) -> tuple[list[Organization], str | None]:
    return await orgs_service.page_orgs(org_id=scope, limit=limit, cursor=cursor)


async def get(*, scope: PydanticObjectId | None, org_id: str) -> Organization:
    wanted = object_id(org_id, org_not_found)
    if scope is not None and wanted != scope:
        raise org_not_found()
    org = await orgs_service.get_org(org_id=wanted)
    if org is None:
        raise org_not_found()
    return org


async def create(*, actor: User, scope: PydanticObjectId | None, body: OrgCreate) -> Organization:
    if scope is not None:
        raise Forbidden(
            "Only admins of the deployment's own organization create organizations.",
            code="forbidden",
        )
    org = await orgs_service.create_org(
        name=body.name,
        slug=body.slug,
        allowed_providers=body.allowed_providers,
        signup_open=body.signup_open,
        daily_ai_budget_usd=body.daily_ai_budget_usd,
    )
    await audit.record(
        action="org.create",
        actor_id=actor.id,
        org_id=org.id,
        target_type="organization",
        target_id=str(org.id),
        details={"slug": org.slug},
    )
    return org


async def update(
    *,
    actor: User,
    scope: PydanticObjectId | None,
    org_id: str,
    body: OrgUpdate,
    budget_ceiling_usd: float | None,
) -> Organization:
    """Only the fields sent, in one `$set`; `null` clears a provider list or a budget (back to
    the deployment's defaults), which is why the sent set matters, not the values.

    An organization's own admin (`scope` set) may not raise the learner budget above
    `budget_ceiling_usd`; deployment admins may set any budget."""
    org = await get(scope=scope, org_id=org_id)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if changes.get("name", "") is None or changes.get("signup_open", False) is None:
        raise ValidationFailed("name and signup_open cannot be null.")
    if "sso_domains" in changes:
        if scope is not None:
            raise Forbidden(
                "Only admins of the deployment's own organization set SSO domains.",
                code="forbidden",
            )
        # One spelling per domain, in the order given; null clears the list.
        changes["sso_domains"] = list(dict.fromkeys(changes["sso_domains"] or []))
    if scope is not None:
        orgs_service.check_learner_budget(
            budget_usd=changes.get("daily_ai_budget_usd"), ceiling_usd=budget_ceiling_usd
        )
    if not changes:
        return org
    assert org.id is not None
    updated = await orgs_service.update_org(org_id=org.id, changes=changes)
    if updated is None:
        raise org_not_found()
    raw, after = updated
    changed = {k: v for k, v in changes.items() if raw.get(k) != v}
    if changed:
        await audit.record(
            action="org.update",
            actor_id=actor.id,
            org_id=org.id,
            target_type="organization",
            target_id=str(org.id),
            details={"changes": {k: {"from": raw.get(k), "to": v} for k, v in changed.items()}},
        )
    return after
