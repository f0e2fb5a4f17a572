"""The normalised request every provider is asked with."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ai_router.tasks import TaskType

Role = Literal["user", "assistant"]


class ChatTurn(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str


class ChatRequest(BaseModel):
    """What the app asks for; provider choice inputs travel with it so planning needs no I/O."""

    model_config = ConfigDict(frozen=True)

    message: str = Field(description="The learner's new message.")
    system_prompt: str = ""
    history: tuple[ChatTurn, ...] = ()
    task_hint: TaskType | None = Field(
        default=None, description="Overrides the task classified from the message."
    )
    max_tokens: int = Field(default=1024, gt=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    user_id: str | None = None
    organization_id: str | None = None
    provider: str | None = Field(default=None, description="Explicit provider for this request.")
    preferred_provider: str | None = Field(default=None, description="The user's preference.")
    allowed_providers: tuple[str, ...] | None = Field(
        default=None, description="Providers the organization allows; None means no restriction."
    )
    remaining_budget_usd: float | None = Field(
        default=None, description="Learner's remaining daily budget; None means unlimited."
    )
    weak_topics: tuple[str, ...] = ()
