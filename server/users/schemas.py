from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from models import User
from server.memory.service import WeakTopicView
from server.schemas import DisplayName, Language, RequestModel, ShortText, Timezone

ProviderName = Literal["openai", "anthropic", "gemini", "offline"]


class ProfilePublic(BaseModel):
    display_name: str
    exam: str | None
    coaching: str | None
    grade: str | None
    timezone: str
    language: str


class MemoryPublic(BaseModel):
    weak_topics: list[WeakTopicView]


class UserPublic(BaseModel):
    id: str
    email: str
    role: str
    org_id: str
    profile: ProfilePublic
    preferred_provider: str | None
    memory: MemoryPublic
    disabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_doc(cls, user: User, weak_topics: Sequence[WeakTopicView] = ()) -> UserPublic:
        return cls(
            id=str(user.id),
            email=user.email,
            role=user.role,
            org_id=str(user.org_id),
            profile=ProfilePublic(**user.profile.model_dump()),
            preferred_provider=user.preferred_provider,
            memory=MemoryPublic(weak_topics=list(weak_topics)),
            disabled=user.disabled,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


class ProfileUpdate(RequestModel):
    display_name: DisplayName | None = None
    exam: ShortText | None = None
    coaching: ShortText | None = None
    grade: ShortText | None = None
    timezone: Timezone | None = None
    language: Language | None = None


class UserUpdate(ProfileUpdate):
    """PATCH /users/me: profile fields flat (as the contract lists them) or nested in `profile`."""

    preferred_provider: ProviderName | None = None
    profile: ProfileUpdate | None = None
