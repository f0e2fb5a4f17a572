from __future__ import annotations

from datetime import datetime
from typing import Annotated

from beanie import Document, Indexed, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.common import utcnow


class PasswordResetToken(Document):
    """One password-reset token sent by mail. Only its SHA-256 is stored: a database leak
    gives nobody a working link. `used_at` is set once, by compare-and-set, when it is spent;
    MongoDB drops the document once `expires_at` has passed (TTL index)."""

    token_hash: Annotated[str, Indexed(unique=True)]
    user_id: Annotated[PydanticObjectId, Indexed()]
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None

    class Settings:
        name = "password_reset_tokens"
        indexes = [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl")]
