"""Server-sent events for a reply: the `assistant:*` events, with heartbeats for proxies."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from server.chat.generation import ChatEvent

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}
HEARTBEAT = b": ping\n\n"


def encode(event: ChatEvent) -> bytes:
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    lines = [f"event: {event.name}"]
    if event.name == "assistant:token":
        lines.append(f"id: {event.data['seq']}")
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode()


async def _next(events: AsyncIterator[ChatEvent]) -> ChatEvent:
    return await anext(events)


async def _with_heartbeats(
    events: AsyncIterator[ChatEvent], heartbeat_s: float
) -> AsyncIterator[bytes]:
    # The next event is awaited in its own task, so a heartbeat never cancels the source.
    pending: asyncio.Task[ChatEvent] | None = None
    try:
        yield b": stream open\n\n"
        while True:
            if pending is None:
                pending = asyncio.create_task(_next(events))
            done, _ = await asyncio.wait({pending}, timeout=heartbeat_s)
            if not done:
                yield HEARTBEAT
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            finally:
                if pending.done():
                    pending = None
            yield encode(event)
    finally:
        # The client went away or the stream ended; the generation itself keeps running.
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


def sse_response(events: AsyncIterator[ChatEvent], *, heartbeat_s: float) -> StreamingResponse:
    return StreamingResponse(
        _with_heartbeats(events, heartbeat_s),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


def wants_event_stream(accept: str | None) -> bool:
    return bool(accept) and "text/event-stream" in (accept or "").lower()
