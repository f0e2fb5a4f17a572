"""Organizations: the default one every deployment has, and lookups for sign-up."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from models import Organization
from server.errors import ValidationFailed


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
