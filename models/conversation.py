from __future__ import annotations

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow


class Conversation(Document):
    user_id: PydanticObjectId
    org_id: PydanticObjectId
    title: str | None = None
    # The learner named it: automatic titles must not overwrite that.
    title_set_by_user: bool = False
    subject: str | None = None
    archived: bool = False
    pinned: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_message_at: datetime | None = None
    message_count: int = 0
    # Running digest of the conversation: {subject: {topic slug: learner messages}}, kept with
    # `$inc`; the context builder summarises older turns from it.
    topics_seen: dict[str, dict[str, int]] = Field(default_factory=dict)
    # Other users who may take part (a study group's conversation); the owner is user_id.
    member_ids: list[PydanticObjectId] = Field(default_factory=list)

    class Settings:
        name = "conversations"
        indexes = [
            # Serves "my conversations, newest first" and its cursor pages.
            IndexModel(
                [("user_id", ASCENDING), ("updated_at", DESCENDING), ("_id", DESCENDING)],
                name="user_recent",
            ),
            # Serves "the group conversations this user is a member of" (export, erasure).
            IndexModel([("member_ids", ASCENDING)], name="members"),
        ]
