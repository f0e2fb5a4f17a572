"""The `organizations` collection's one owner: the default organization every deployment
has, lookups for sign-up, and the admin's create, list and update. Others call these."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from models import Organization
from server.cluster import Cluster
from server.errors import Conflict, ValidationFailed
from server.lookups import InvalidatedCache
from server.pagination import newest_first


async def ensure_default_org(*, slug: str, name: str) -> Organization:
    """Idempotent and race-free across instances: the unique slug index decides."""
    existing = await Organization.find_one(Organization.slug == slug)
    if existing is not None:
        return existing
    try:
        return await Organization(name=name, slug=slug).insert()
    except DuplicateKeyError:
        found = await Organization.find_one(Organization.slug == slug)
        assert found is not None
        return found


# Read for every chat message (allowed providers, budget); every write of an existing
# organization here invalidates it on all instances (server/lookups.py).
_cache: InvalidatedCache[Organization] = InvalidatedCache("orgs:changed", max_items=5_000)


def attach_cache(cluster: Cluster) -> None:
    _cache.attach(cluster)


def detach_cache(cluster: Cluster) -> None:
    _cache.detach(cluster)


async def get_org(*, org_id: PydanticObjectId) -> Organization | None:
    return await Organization.get(org_id)


async def cached_org(*, org_id: PydanticObjectId) -> Organization | None:
    """`get_org` from this process's cache, invalidated on every instance by `update_org`.
    The document is shared: never mutate it."""
    return await _cache.get(org_id, lambda: Organization.get(org_id))


async def find_by_slug(*, slug: str) -> Organization | None:
    """Served by the unique `slug` index."""
    return await Organization.find_one({"slug": slug})


async def find_by_sso_domain(*, domain: str) -> Organization | None:
    """The organization whose `sso_domains` lists `domain` (lower-case), served by the unique
    `sso_domains_unique` index: at most one."""
    return await Organization.find_one({"sso_domains": domain.lower()})


def draft_org(*, name: str, slug: str) -> Organization:
    """An organization with its id, not stored: what a dry run plans with."""
    return Organization(id=PydanticObjectId(), name=name, slug=slug)


async def create_org(
    *,
    name: str,
    slug: str,
    allowed_providers: list[str] | None = None,
    signup_open: bool = True,
    daily_ai_budget_usd: float | None = None,
) -> Organization:
    """Race-free: the unique slug index decides, and the loser gets 409 `org_slug_taken`."""
    org = Organization(
        name=name,
        slug=slug,
        allowed_providers=allowed_providers,
        signup_open=signup_open,
        daily_ai_budget_usd=daily_ai_budget_usd,
    )
    try:
        return await org.insert()
    except DuplicateKeyError as exc:
        raise Conflict(
            "An organization with this slug already exists.",
            code="org_slug_taken",
            details={"slug": slug},
        ) from exc


async def page_orgs(
    *, org_id: PydanticObjectId | None, limit: int, cursor: str | None
) -> tuple[list[Organization], str | None]:
    """Newest first (the `recent` index); with `org_id`, only that one."""
    query: dict[str, Any] = {} if org_id is None else {"_id": org_id}
    return await newest_first(Organization, query, "created_at", limit=limit, cursor=cursor)


async def update_org(
    *, org_id: PydanticObjectId, changes: dict[str, Any]
) -> tuple[dict[str, Any], Organization] | None:
    """Applies `changes` in one `$set` and returns the stored values it replaced (the raw
    document before) with the organization after; None if there is no such organization.
    One atomic update, so the "before" an audit entry names is the true one."""
    try:
        before = await Organization.get_pymongo_collection().find_one_and_update(
            {"_id": org_id}, {"$set": changes}, return_document=ReturnDocument.BEFORE
        )
    except DuplicateKeyError as exc:
        # The only unique field an update can touch: `sso_domains_unique` decides, race-free.
        raise Conflict(
            "One of these SSO domains belongs to another organization.",
            code="sso_domain_taken",
        ) from exc
    if before is None:
        return None
    await _cache.invalidate(org_id)
    after = await Organization.get(org_id)
    if after is None:
        return None
    return before, after


async def joinable_org(*, slug: str) -> Organization:
    org = await Organization.find_one(Organization.slug == slug)
    if org is None or not org.signup_open:
        raise ValidationFailed(
            "This organization does not exist or is closed to sign-up.",
            code="org_not_joinable",
            details={"org_slug": slug},
        )
    return org


def check_learner_budget(*, budget_usd: float | None, ceiling_usd: float | None) -> None:
    """An organization's own admin may lower its learners' daily AI budget, not raise it past
    the deployment's ceiling (`AI_MAX_DAILY_BUDGET_USD`): the deployment pays the vendors.
    `None` (back to `AI_DAILY_BUDGET_USD`) always passes: settings keep that default under the
    ceiling. Deployment admins are not checked; the caller decides who is which."""
    if budget_usd is None or ceiling_usd is None or budget_usd <= ceiling_usd:
        return
    raise ValidationFailed(
        f"An organization's admin may set a daily AI budget of at most {ceiling_usd} USD per "
        "learner; ask a deployment admin for more.",
        code="budget_above_ceiling",
        details={
            "field": "daily_ai_budget_usd",
            "daily_ai_budget_usd": budget_usd,
            "max_daily_ai_budget_usd": ceiling_usd,
        },
    )
