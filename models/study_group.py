from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow

GroupRole = Literal["mentor", "member"]


class GroupMember(BaseModel):
    user_id: PydanticObjectId
    role: GroupRole
    joined_at: datetime = Field(default_factory=utcnow)


class StudyGroup(Document):
    """Learners of one organization studying together, with one shared mentor conversation."""

    org_id: PydanticObjectId
    name: str
    created_by: PydanticObjectId
    members: list[GroupMember] = Field(default_factory=list)
    # Learners join with it; unique so a code names exactly one group.
    invite_code: str
    conversation_id: PydanticObjectId
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "study_groups"
        indexes = [
            IndexModel([("invite_code", ASCENDING)], unique=True, name="invite_code"),
            # Serves "my groups, newest first" and its cursor pages.
            IndexModel(
                [("members.user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                name="member_recent",
            ),
        ]
