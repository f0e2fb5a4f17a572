from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StrictBool, StringConstraints

from models import Conversation, Message
from server.schemas import RequestModel

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class ConversationCreate(RequestModel):
    title: Title | None = None
    subject: Subject | None = None


class ConversationUpdate(RequestModel):
    title: Title | None = None
    archived: StrictBool | None = None
    pinned: StrictBool | None = None


class ConversationPublic(BaseModel):
    id: str
    title: str | None
    subject: str | None
    archived: bool
    pinned: bool
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None
    message_count: int

    @classmethod
    def from_doc(cls, doc: Conversation) -> ConversationPublic:
        return cls(
            id=str(doc.id),
            title=doc.title,
            subject=doc.subject,
            archived=doc.archived,
            pinned=doc.pinned,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            last_message_at=doc.last_message_at,
            message_count=doc.message_count,
        )


class UsagePublic(BaseModel):
    input_tokens: int
    output_tokens: int
    cost_usd: float
    # True when we counted the tokens ourselves: the provider sent none or implausible ones.
    estimated: bool = False


class TopicPublic(BaseModel):
    id: str
    name: str
    subject: str


class MessageErrorPublic(BaseModel):
    code: str
    message: str


class CitationPublic(BaseModel):
    """A passage the reply cites as `[n]`; `document_id` is null for the app's own notes."""

    n: int
    document_id: str | None
    title: str
    page: int | None
    quote: str


class MessagePublic(BaseModel):
    id: str
    conversation_id: str
    role: str
    content: str
    status: str
    client_message_id: str | None
    parent_id: str | None
    author_id: str | None
    provider: str | None
    model: str | None
    usage: UsagePublic | None
    topics: list[TopicPublic]
    error: MessageErrorPublic | None
    # Why a reply ended: `stop`, `length` (cut at the length limit), `content_filter` or
    # `other`; None for learner messages and replies that did not complete.
    finish_reason: str | None = None
    # A reply's sources, referred to in `content` as [n]; empty when it cites none.
    citations: list[CitationPublic] = []
    created_at: datetime

    @classmethod
    def from_doc(cls, doc: Message) -> MessagePublic:
        return cls(
            id=str(doc.id),
            conversation_id=str(doc.conversation_id),
            role=doc.role,
            content=doc.content,
            status=doc.status,
            client_message_id=doc.client_message_id,
            parent_id=str(doc.parent_id) if doc.parent_id else None,
            author_id=str(doc.author_id) if doc.author_id else None,
            provider=doc.provider,
            model=doc.model,
            usage=UsagePublic(**doc.usage.model_dump()) if doc.usage else None,
            topics=[TopicPublic(**t.model_dump()) for t in doc.topics],
            error=MessageErrorPublic(**doc.error.model_dump()) if doc.error else None,
            finish_reason=doc.meta.finish_reason if doc.meta else None,
            citations=[CitationPublic(**c.model_dump()) for c in doc.citations],
            created_at=doc.created_at,
        )


class ConversationPage(BaseModel):
    items: list[ConversationPublic]
    next_cursor: str | None


class MessagePage(BaseModel):
    items: list[MessagePublic]
    next_cursor: str | None
