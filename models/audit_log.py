from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow


class AuditLog(Document):
    """Who did what to whom. Never holds a secret, a password or message content."""

    action: str
    actor_id: PydanticObjectId | None = None
    org_id: PydanticObjectId | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: str = "success"
    details: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "audit_log"
        indexes = [
            IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="recent"),
            IndexModel([("actor_id", ASCENDING), ("created_at", DESCENDING)], name="actor_recent"),
            IndexModel(
                [("org_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                name="org_recent",
            ),
        ]
