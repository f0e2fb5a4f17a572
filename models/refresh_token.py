from __future__ import annotations

from datetime import datetime
from typing import Annotated

from beanie import Document, Indexed, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.common import utcnow


class RefreshToken(Document):
    """One issued refresh token. Only its SHA-256 is stored, never the token itself."""

    token_hash: Annotated[str, Indexed(unique=True)]
    family_id: Annotated[str, Indexed()]
    user_id: Annotated[PydanticObjectId, Indexed()]
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    class Settings:
        name = "refresh_tokens"
        indexes = [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl")]
