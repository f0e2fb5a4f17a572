"""Helpers for the chat tests: an SSE parser and shortcuts for conversations and sends."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SseStream:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == name]

    @property
    def names(self) -> list[str]:
        return [event for event, _ in self.events]

    def text(self) -> str:
        return "".join(d["delta"] for d in self.named("assistant:token"))

    def feed_block(self, block: str) -> None:
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            self.events.append((name, json.loads("\n".join(data))))


def parse_sse(text: str) -> SseStream:
    stream = SseStream()
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if block.strip():
            stream.feed_block(block)
    return stream


def sse_headers(auth: dict[str, str]) -> dict[str, str]:
    return {**auth, "Accept": "text/event-stream"}


async def new_conversation(client: httpx.AsyncClient, auth: dict[str, str], **body: Any) -> str:
    response = await client.post("/api/v1/conversations", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def message_body(content: str, **extra: Any) -> dict[str, Any]:
    return {"content": content, "client_message_id": str(uuid.uuid4()), **extra}
