"""Client event payloads, validated like REST bodies (unknown fields refused), and the
gateway's own server→client events."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, Field, StringConstraints

from server.chat.schemas import ClientMessageId, Content, ProviderName
from server.conversations.service import AccessLossReason
from server.schemas import RequestModel

ACCESS_LOST_EVENT: Final = "conversation:access_lost"

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


class AccessLostEvent(BaseModel):
    """`conversation:access_lost`, to one socket taken out of a conversation: `left` (its
    user left the study group), `deleted` (the conversation is gone) or `revoked` (access was
    found gone on a re-check, whatever removed it)."""

    conversation_id: str
    reason: AccessLossReason
