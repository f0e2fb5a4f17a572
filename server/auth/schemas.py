from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from server.schemas import DisplayName, RequestModel, ShortText
from server.users.schemas import UserPublic

# Long passphrases are welcome and never truncated (argon2 hashes every byte).
Password = Annotated[str, Field(min_length=8, max_length=128)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
TokenString = Annotated[str, Field(min_length=1, max_length=4096)]


class RegisterRequest(RequestModel):
    email: EmailStr
    password: Password
    display_name: DisplayName
    exam: ShortText | None = None
    org_slug: Slug | None = None


class LoginRequest(RequestModel):
    email: EmailStr
    password: Annotated[str, Field(min_length=1, max_length=128)]


class RefreshRequest(RequestModel):
    refresh_token: TokenString


# `forgot` answers 202 whatever the email (the contract): an address sign-up would refuse
# (e.g. `.invalid`, `.test`) has no account, so it simply gets no mail. Only the shape of an
# address is checked.
AnyEmail = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
]


class ForgotPasswordRequest(RequestModel):
    email: AnyEmail


class ForgotPasswordAccepted(BaseModel):
    """The same answer for every email: it tells nothing about accounts."""

    status: Literal["accepted"] = "accepted"


class ResetPasswordRequest(RequestModel):
    token: TokenString
    new_password: Password


class ChangePasswordRequest(RequestModel):
    current_password: Annotated[str, Field(min_length=1, max_length=128)]
    new_password: Password


class ClaimInviteRequest(RequestModel):
    email: EmailStr


class ClaimInviteResponse(BaseModel):
    expires_at: datetime


class ClaimRequest(RequestModel):
    token: TokenString
    password: Password
    display_name: DisplayName | None = None


class AuthResponse(BaseModel):
    user: UserPublic
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
