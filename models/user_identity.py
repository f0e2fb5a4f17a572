from __future__ import annotations

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow


class UserIdentity(Document):
    """An account at an OpenID provider linked to one of our users (single sign-on,
    `server/auth/oidc.py`). The provider's `(issuer, subject)` pair names a person for good,
    whatever their email becomes, so it is what a login is matched by; `provider` is the
    deployment's name for the issuer (`OIDC_PROVIDERS`) when the link was made. No email, no
    tokens: nothing here is needed after the login that made it."""

    user_id: PydanticObjectId
    provider: str
    issuer: str
    subject: str
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "user_identities"
        indexes = [
            # Every SSO login; unique, so two concurrent first logins of one person link once.
            IndexModel(
                [("issuer", ASCENDING), ("subject", ASCENDING)],
                unique=True,
                name="issuer_subject_unique",
            ),
            # An admin's list of a user's identities (newest first), export and erasure.
            IndexModel(
                [("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                name="user_recent",
            ),
        ]
