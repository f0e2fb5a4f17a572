"""Server-sent events for a reply: the `assistant:*` events, with heartbeats for proxies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from server.chat.generation import ChatEvent

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}
OPENING = b": stream open\n\n"  # lets proxies pass the headers on at once
HEARTBEAT = b": ping\n\n"


def encode(event: ChatEvent) -> bytes:
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    lines = [f"event: {event.name}"]
    if event.name == "assistant:token":
        lines.append(f"id: {event.data['seq']}")
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode()


async def _frames(batches: AsyncIterator[list[ChatEvent]]) -> AsyncIterator[bytes]:
    # Closing this generator (the client went away) closes the watcher, never the generation.
    yield OPENING
    async for batch in batches:
        yield b"".join(encode(event) for event in batch) if batch else HEARTBEAT


def sse_response(batches: AsyncIterator[list[ChatEvent]]) -> StreamingResponse:
    return StreamingResponse(_frames(batches), media_type="text/event-stream", headers=SSE_HEADERS)


def wants_event_stream(accept: str | None) -> bool:
    return bool(accept) and "text/event-stream" in (accept or "").lower()
