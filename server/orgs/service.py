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
