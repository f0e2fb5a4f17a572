from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from server.conversations.schemas import MessagePublic
from server.schemas import RequestModel

ProviderName = Literal["openai", "anthropic", "gemini", "offline"]
MAX_CONTENT_CHARS = 8000

Content = Annotated[
    str,
    StringConstraints(
        strict=True, strip_whitespace=True, min_length=1, max_length=MAX_CONTENT_CHARS
    ),
]
ClientMessageId = Annotated[
    str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9._:\-]{1,128}$")
]


class SendMessage(RequestModel):
    content: Content = Field(description="The learner's message, 1 to 8,000 characters.")
    client_message_id: ClientMessageId | None = Field(
        default=None,
        description="Chosen by the client (a UUID); re-sending it never stores a second copy.",
    )
    provider: ProviderName | None = Field(
        default=None, description="Ask for one provider; the router falls back if it fails."
    )


class ExchangePublic(BaseModel):
    user_message: MessagePublic
    assistant_message: MessagePublic
