from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from beanie import Document, Indexed, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.common import utcnow

# What a mailed token lets its holder do: choose a new password (30 minutes), or claim an
# imported account (7 days, `server/auth/claim.py`). Documents written before claims
# existed have no `purpose` and are reset tokens.
TokenPurpose = Literal["password_reset", "claim"]


class PasswordResetToken(Document):
    """One single-use token sent by mail: a password reset or an account claim (`purpose`).
    Only its SHA-256 is stored: a database leak gives nobody a working link. `used_at` is set
    once, by compare-and-set, when it is spent; MongoDB drops the document once `expires_at`
    has passed (TTL index). A claim token also keeps the `email` the invitation went to: the
    address the account takes when it is claimed."""

    token_hash: Annotated[str, Indexed(unique=True)]
    user_id: Annotated[PydanticObjectId, Indexed()]
    expires_at: datetime
    purpose: TokenPurpose = "password_reset"
    email: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None

    class Settings:
        name = "password_reset_tokens"
        indexes = [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl")]
