"""Server-sent events for a reply: the `assistant:*` events, with heartbeats for proxies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from models import Message, MessageError
from server.errors import dependency_error
from server.events import AssistantError, AssistantToken, ServerEvent

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}
OPENING = b": stream open\n\n"  # lets proxies pass the headers on at once
HEARTBEAT = b": ping\n\n"


def encode(event: ServerEvent) -> bytes:
    if type(event) is AssistantToken:
        return _encode_token(event)
    data = json.dumps(event.payload(), ensure_ascii=False, separators=(",", ":"))
    lines = [f"event: {event.name}"]
    if isinstance(event, AssistantToken):
        lines.append(f"id: {event.seq}")
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode()


_dump_str = json.JSONEncoder(ensure_ascii=False).encode  # a JSON string literal, as above


def _encode_token(event: AssistantToken) -> bytes:
    """`encode` of the one event sent per token, byte for byte, without the model dump and
    the dict's JSON encoding (the payload's keys are fixed: message_id, seq, delta)."""
    return (
        f"event: assistant:token\nid: {event.seq}\n"
        f'data: {{"message_id":{_dump_str(event.message_id)},"seq":{event.seq},'
        f'"delta":{_dump_str(event.delta)}}}\n\n'
    ).encode()


async def _frames(
    batches: AsyncIterator[list[ServerEvent]], reply: Message | None
) -> AsyncIterator[bytes]:
    # Closing this generator (the client went away) closes the watcher, never the generation.
    yield OPENING
    try:
        async for batch in batches:
            yield b"".join(encode(event) for event in batch) if batch else HEARTBEAT
    except Exception as exc:
        # MongoDB or Redis went away while the reply was followed through the store: the
        # stream ends with `assistant:error` (the 503's code) instead of a cut connection.
        outage = dependency_error(exc)
        if outage is None or reply is None:
            raise
        failed = MessageError(code=outage.code, message=outage.message)
        yield encode(AssistantError.of(reply, failed))


def sse_response(
    batches: AsyncIterator[list[ServerEvent]], *, reply: Message | None = None
) -> StreamingResponse:
    """`reply`: the assistant message streamed, named by the `assistant:error` that ends the
    stream if a dependency fails mid-way."""
    return StreamingResponse(
        _frames(batches, reply), media_type="text/event-stream", headers=SSE_HEADERS
    )


def wants_event_stream(accept: str | None) -> bool:
    return bool(accept) and "text/event-stream" in (accept or "").lower()
