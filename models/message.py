from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow

MessageRole = Literal["user", "assistant", "system"]
MessageStatus = Literal["complete", "streaming", "failed", "aborted"]


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    estimated: bool = False


class TopicRef(BaseModel):
    id: str
    name: str
    subject: str


class MessageError(BaseModel):
    code: str
    message: str


class Message(Document):
    conversation_id: PydanticObjectId
    author_id: PydanticObjectId | None = None
    role: MessageRole
    content: str
    status: MessageStatus = "complete"
    client_message_id: str | None = None
    parent_id: PydanticObjectId | None = None
    provider: str | None = None
    model: str | None = None
    usage: Usage | None = None
    topics: list[TopicRef] = Field(default_factory=list)
    error: MessageError | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "messages"
        indexes = [
            # Serves "latest page of a conversation" and paging backwards with `before`.
            IndexModel(
                [("conversation_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                name="conversation_recent",
            ),
            # A re-sent client_message_id can never store a second copy, even under races.
            IndexModel(
                [("conversation_id", ASCENDING), ("client_message_id", ASCENDING)],
                unique=True,
                partialFilterExpression={"client_message_id": {"$type": "string"}},
                name="conversation_client_message_unique",
            ),
        ]
