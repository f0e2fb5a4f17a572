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


class AttemptRecord(BaseModel):
    provider: str
    model: str
    outcome: str
    error_code: str | None = None
    duration_ms: int = 0


class GenerationMeta(BaseModel):
    """How an assistant reply was produced: the router's reason, timings and every attempt."""

    plan_reason: str | None = None
    finish_reason: str | None = None
    ttft_ms: int | None = None
    total_ms: int | None = None
    attempts: list[AttemptRecord] = Field(default_factory=list)


class Citation(BaseModel):
    """A passage a reply refers to as `[n]`. `document_id` is None for knowledge the app
    ships (its notes and question bank); `quote` is the passage's text, trimmed."""

    n: int
    document_id: str | None = None
    title: str
    page: int | None = None
    quote: str


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
    meta: GenerationMeta | None = None
    # The passages a reply cites, in `n` order; only those its text actually refers to.
    citations: list[Citation] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    # For a reply still streaming: when its generator last wrote (stale ones are swept).
    updated_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None

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
            # Serves "the replies to this learner message" (re-sends, regenerate, history).
            IndexModel(
                [("parent_id", ASCENDING), ("created_at", DESCENDING)],
                partialFilterExpression={"parent_id": {"$type": "objectId"}},
                name="parent_replies",
            ),
            # At most one reply per learner message is generated at a time: two regenerates
            # racing cannot both start (the second insert is a duplicate key).
            IndexModel(
                [("parent_id", ASCENDING)],
                unique=True,
                partialFilterExpression={"status": "streaming"},
                name="one_streaming_reply",
            ),
            # Serves the sweep of replies left streaming by a process that died.
            IndexModel(
                [("updated_at", ASCENDING)],
                partialFilterExpression={"status": "streaming"},
                name="streaming_stale",
            ),
            # Serves export and erasure: where a user wrote, also in groups they have left
            # (assistant messages have no author and stay out of it).
            IndexModel(
                [("author_id", ASCENDING), ("conversation_id", ASCENDING)],
                partialFilterExpression={"author_id": {"$type": "objectId"}},
                name="author_conversations",
            ),
            # Serves "replies still streaming in this conversation" (a socket joining it).
            IndexModel(
                [("conversation_id", ASCENDING)],
                partialFilterExpression={"status": "streaming"},
                name="conversation_streaming",
            ),
        ]
