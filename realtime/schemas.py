"""Client event payloads, validated like REST bodies (unknown fields refused)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from server.chat.schemas import ClientMessageId, Content, ProviderName
from server.schemas import RequestModel

ObjectIdText = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]


class ConversationRef(RequestModel):
    conversation_id: ObjectIdText


class SendPayload(RequestModel):
    conversation_id: ObjectIdText
    content: Content
    client_message_id: ClientMessageId | None = None
    provider: ProviderName | None = None


class MessageRef(RequestModel):
    message_id: ObjectIdText


class ResumePayload(RequestModel):
    message_id: ObjectIdText
    last_seq: int = Field(ge=0, strict=True)


class TypingPayload(RequestModel):
    conversation_id: ObjectIdText
    is_typing: bool = Field(strict=True)


class RefreshPayload(RequestModel):
    token: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=4096)]
