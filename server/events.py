"""Every Socket.IO and SSE event, typed: its name and its payload, defined here and only here.

Server→client events are `ServerEvent`s: `name` is the event name (SSE's `event:` field, the
Socket.IO event), `payload()` the JSON object sent (SSE's `data:`, the Socket.IO argument).
Builders (the chat service, the gateway, progress) make a model; transports (SSE, the gateway's
emits, the replay buffer) only read `name` and `payload()`, and `parse_event` turns a payload
read back from the replay buffer into its model again. Client→server events are `ClientEvent`s:
the payload models the gateway validates each event with (unknown fields refused).

The wire format is the one documented in docs/asyncapi.yaml (tests/server/test_events.py keeps
the two in step): a new event, or a new field, is added here and there together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_serializer

from models import Message, MessageError
from models.achievement import Tier
from server.chat.schemas import ClientMessageId, Content, ProviderName
from server.conversations.schemas import CitationPublic, MessagePublic, UsagePublic
from server.conversations.service import AccessLossReason
from server.schemas import RequestModel


class ServerEvent(BaseModel):
    """One server→client event; subclasses set `name` and declare the payload's fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ClassVar[str]

    def payload(self) -> dict[str, Any]:
        """The JSON object sent, keys in declaration order (None values are sent as null)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> ServerEvent:
        """The model back from what `payload()` gave (a replay buffer read from Redis)."""
        return cls.model_validate(data)


# ---- a reply being generated (SSE and the conversation's room) ---------------------------------
class AssistantStart(ServerEvent):
    name: ClassVar[str] = "assistant:start"

    message_id: str
    conversation_id: str
    provider: str | None
    model: str | None
    parent_id: str
    user_message: MessagePublic

    @classmethod
    def of(cls, reply: Message, question: Message) -> AssistantStart:
        return cls(
            message_id=str(reply.id),
            conversation_id=str(reply.conversation_id),
            provider=reply.provider,
            model=reply.model,
            parent_id=str(question.id),
            user_message=MessagePublic.from_doc(question),
        )


class AssistantToken(ServerEvent):
    """`seq` counts from 1 without gaps within a reply (SSE's `id:` too)."""

    name: ClassVar[str] = "assistant:token"

    message_id: str
    seq: int
    delta: str


class AssistantReset(ServerEvent):
    """The router withdrew the text streamed so far (a failover restarted the answer):
    clients drop the deltas of every token up to `seq`; the tokens after it are the reply."""

    name: ClassVar[str] = "assistant:reset"

    message_id: str
    conversation_id: str
    seq: int
    provider: str | None
    model: str | None


class AssistantEnd(ServerEvent):
    name: ClassVar[str] = "assistant:end"

    message_id: str
    conversation_id: str
    content: str
    usage: UsagePublic
    provider: str | None
    model: str | None
    status: str
    # `length`: cut at the reply length limit (see docs/CHAT.md); None unless complete.
    finish_reason: str | None
    # The passages the reply refers to as [n] (docs/CHAT.md, "Cited answers").
    citations: list[CitationPublic] = []

    @classmethod
    def of(cls, message: Message) -> AssistantEnd:
        usage = message.usage
        return cls(
            message_id=str(message.id),
            conversation_id=str(message.conversation_id),
            content=message.content,
            usage=UsagePublic(**usage.model_dump()) if usage else UsagePublic(**_NO_USAGE),
            provider=message.provider,
            model=message.model,
            status=message.status,
            finish_reason=message.meta.finish_reason if message.meta else None,
            citations=[CitationPublic(**c.model_dump()) for c in message.citations],
        )


_NO_USAGE: dict[str, Any] = {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}


class AssistantError(ServerEvent):
    """A reply failed; the learner's message stays stored."""

    name: ClassVar[str] = "assistant:error"

    message_id: str
    conversation_id: str
    code: str
    message: str

    @classmethod
    def of(cls, message: Message, error: MessageError | None = None) -> AssistantError:
        """`error`: what to report instead of the stored one (a reply that could not be saved)."""
        error = error or message.error
        if error is None:
            error = MessageError(code="ai_unavailable", message="The reply failed.")
        return cls(
            message_id=str(message.id),
            conversation_id=str(message.conversation_id),
            code=error.code,
            message=error.message,
        )


TERMINAL_EVENTS: frozenset[str] = frozenset({AssistantEnd.name, AssistantError.name})


def final_event(message: Message) -> AssistantEnd | AssistantError:
    """How a reply that has ended is announced: `assistant:error` for a failed one, else end."""
    if message.status == "failed":
        return AssistantError.of(message)
    return AssistantEnd.of(message)


# ---- the conversation's room ---------------------------------------------------------------
class MessageNew(ServerEvent):
    """A stored message; the payload is the message itself (the contract's message shape)."""

    name: ClassVar[str] = "message:new"

    message: MessagePublic

    def payload(self) -> dict[str, Any]:
        return self.message.model_dump(mode="json")

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> MessageNew:
        return cls(message=MessagePublic.model_validate(data))


class Typing(ServerEvent):
    """Relayed to the conversation's room (never to the typist's own sockets)."""

    name: ClassVar[str] = "typing"

    conversation_id: str
    user_id: str
    is_typing: bool


class Presence(ServerEvent):
    name: ClassVar[str] = "presence"

    conversation_id: str
    user_id: str
    status: Literal["online", "offline"]


# ---- one socket ----------------------------------------------------------------------------
class ConversationAccessLost(ServerEvent):
    """To one socket taken out of a conversation: `left` (its user left the study group),
    `deleted` (the conversation is gone) or `revoked` (found gone on a re-check)."""

    name: ClassVar[str] = "conversation:access_lost"

    conversation_id: str
    reason: AccessLossReason


class AuthExpired(ServerEvent):
    """Why the server is about to disconnect this socket (`expired`, `revoked`, ...)."""

    name: ClassVar[str] = "auth:expired"

    reason: str


# ---- the user's own room (progress) ------------------------------------------------------------
class XpGained(ServerEvent):
    name: ClassVar[str] = "xp:gained"

    amount: int
    source: str
    xp_total: int
    level: int


class AchievementUnlocked(ServerEvent):
    """The payload's `name` is the badge's; in Python it is `badge_name`, since `name` is the
    event's. Build it with `of`."""

    name: ClassVar[str] = "achievement:unlocked"

    code: str
    badge_name: str = Field(alias="name")
    tier: Tier
    xp_reward: int
    earned_at: datetime

    @classmethod
    def of(
        cls, *, code: str, name: str, tier: Tier, xp_reward: int, earned_at: datetime
    ) -> AchievementUnlocked:
        return cls.model_validate(
            {
                "code": code,
                "name": name,
                "tier": tier,
                "xp_reward": xp_reward,
                "earned_at": earned_at,
            }
        )

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @field_serializer("earned_at")
    def _iso(self, value: datetime) -> str:
        # `isoformat()` as before (`+00:00`), not pydantic's `Z`: the wire format is unchanged.
        return value.isoformat()


# ---- the user's own room (study library) ------------------------------------------------------
class DocumentProgressPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    done: int
    total: int


class DocumentStatusChanged(ServerEvent):
    """A library document's processing advanced (to its owner only: the title is not sent)."""

    name: ClassVar[str] = "document:status"

    id: str
    status: Literal["queued", "processing", "ready", "failed"]
    progress: DocumentProgressPayload


# ---- the user's own room (practice: mock tests and assignments) ---------------------------------
class MockTestEnded(ServerEvent):
    """One of this learner's mock tests ended: submitted by them or, at `ends_at`, by the
    server (`time_up`). Sent once per test, by whoever stored its result."""

    name: ClassVar[str] = "test:ended"

    test_id: str
    reason: Literal["submitted", "time_up"]
    score: float
    max_score: float
    submitted_at: datetime


class AssignmentNew(ServerEvent):
    """A mentor set an assignment in one of this learner's study groups."""

    name: ClassVar[str] = "assignment:new"

    id: str
    group_id: str
    group_name: str
    title: str
    kind: Literal["test", "topic"]
    due_at: datetime


SERVER_EVENTS: dict[str, type[ServerEvent]] = {
    cls.name: cls
    for cls in (
        AssistantStart,
        AssistantToken,
        AssistantReset,
        AssistantEnd,
        AssistantError,
        MessageNew,
        Typing,
        Presence,
        ConversationAccessLost,
        AuthExpired,
        XpGained,
        AchievementUnlocked,
        DocumentStatusChanged,
        MockTestEnded,
        AssignmentNew,
    )
}


def parse_event(name: str, data: dict[str, Any]) -> ServerEvent:
    """A server event back from its name and payload; KeyError for a name not defined here."""
    return SERVER_EVENTS[name].from_payload(data)


# ---- client→server (each answered through its ack) -------------------------------------------
ObjectIdText = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]


class ClientEvent(RequestModel):
    """A client→server event's payload: validated like a REST body (unknown fields refused)."""

    name: ClassVar[str]


class ConversationJoin(ClientEvent):
    name: ClassVar[str] = "conversation:join"

    conversation_id: ObjectIdText


class ConversationLeave(ClientEvent):
    name: ClassVar[str] = "conversation:leave"

    conversation_id: ObjectIdText


class MessageSend(ClientEvent):
    name: ClassVar[str] = "message:send"

    conversation_id: ObjectIdText
    content: Content
    client_message_id: ClientMessageId | None = None
    provider: ProviderName | None = None


class MessageAbort(ClientEvent):
    name: ClassVar[str] = "message:abort"

    message_id: ObjectIdText


class StreamResume(ClientEvent):
    name: ClassVar[str] = "stream:resume"

    message_id: ObjectIdText
    last_seq: int = Field(ge=0, strict=True)


class TypingUpdate(ClientEvent):
    name: ClassVar[str] = "typing"

    conversation_id: ObjectIdText
    is_typing: bool = Field(strict=True)


class AuthRefresh(ClientEvent):
    name: ClassVar[str] = "auth:refresh"

    token: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=4096)]


CLIENT_EVENTS: dict[str, type[ClientEvent]] = {
    cls.name: cls
    for cls in (
        ConversationJoin,
        ConversationLeave,
        MessageSend,
        MessageAbort,
        StreamResume,
        TypingUpdate,
        AuthRefresh,
    )
}
