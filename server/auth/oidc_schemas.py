"""Single sign-on shapes (docs/ACCOUNTS.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from models import UserIdentity
from server.schemas import Page, RequestModel


class LoginCodeRequest(RequestModel):
    login_code: Annotated[str, Field(min_length=1, max_length=512)]


class OidcProviderPublic(BaseModel):
    name: str


class OidcProviderList(BaseModel):
    items: list[OidcProviderPublic]


class IdentityPublic(BaseModel):
    """A provider account linked to a user, as admins see it: no email, no token."""

    id: str
    provider: str
    issuer: str
    subject: str
    created_at: datetime
    last_login_at: datetime

    @classmethod
    def from_doc(cls, identity: UserIdentity) -> IdentityPublic:
        return cls(
            id=str(identity.id),
            provider=identity.provider,
            issuer=identity.issuer,
            subject=identity.subject,
            created_at=identity.created_at,
            last_login_at=identity.last_login_at,
        )


IdentityPage = Page[IdentityPublic]
