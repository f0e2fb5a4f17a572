from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from beanie import Document, Indexed, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow

Role = Literal["learner", "mentor", "admin"]


class Profile(BaseModel):
    display_name: str
    exam: str | None = None
    coaching: str | None = None
    grade: str | None = None
    timezone: str = "Asia/Kolkata"
    language: str = "en"


class User(Document):
    # Stored lower-cased; the unique index then makes sign-up race-free and case-insensitive.
    email: Annotated[str, Indexed(unique=True)]
    password_hash: str | None = None
    role: Role = "learner"
    org_id: PydanticObjectId
    profile: Profile
    preferred_provider: str | None = None
    disabled: bool = False
    legacy_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "users"
        indexes = [
            IndexModel(
                [("org_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                name="org_recent",
            ),
            # Admin lists: every user (deployment admins), and one organization's learners.
            IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="recent"),
            IndexModel(
                [
                    ("org_id", ASCENDING),
                    ("role", ASCENDING),
                    ("created_at", DESCENDING),
                    ("_id", DESCENDING),
                ],
                name="org_role_recent",
            ),
            IndexModel(
                [("legacy_id", ASCENDING)],
                unique=True,
                partialFilterExpression={"legacy_id": {"$type": "string"}},
                name="legacy_id_unique",
            ),
        ]
