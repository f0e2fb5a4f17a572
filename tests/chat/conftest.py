"""Fixtures shared by the server tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId

from models import User
from tests.chat.helpers import new_conversation, sse_headers
from tests.conftest import Api


@dataclass
class ChatSession:
    """A newly registered learner (`me`, as Api.register returns it) with one new conversation
    (`conv`), and a shortcut to send to it: most chat tests start just so."""

    api: Api
    me: dict[str, Any]
    conv: str

    @property
    def auth(self) -> dict[str, str]:
        return dict(self.me["auth"])

    @property
    def messages_url(self) -> str:
        return f"/api/v1/conversations/{self.conv}/messages"

    async def user(self) -> User:
        """The learner's stored User, for calling services directly."""
        user = await User.get(PydanticObjectId(self.me["user"]["id"]))
        assert user is not None
        return user

    async def send(self, body: Any, *, sse: bool = False) -> httpx.Response:
        """POSTs `body` to the conversation's messages, asking for SSE when `sse`."""
        headers = sse_headers(self.auth) if sse else self.auth
        return await self.api.client.post(self.messages_url, json=body, headers=headers)


@pytest.fixture
async def convo(api: Api) -> ChatSession:
    me = await api.register()
    return ChatSession(api=api, me=me, conv=await new_conversation(api.client, me["auth"]))
