"""The SSE frames of a reply: the per-token fast path writes exactly what the generic encoder
writes (the wire format is the contract's), and a watcher's writes are coalesced."""

from __future__ import annotations

import asyncio
import json

import pytest

from server.chat.generation import Generation
from server.chat.sse import encode
from server.events import AssistantToken, ServerEvent


def _generic(event: ServerEvent) -> bytes:
    """The frame every other event gets: the model's payload as compact JSON."""
    data = json.dumps(event.payload(), ensure_ascii=False, separators=(",", ":"))
    return f"event: {event.name}\nid: {event.seq}\ndata: {data}\n\n".encode()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "delta",
    [
        " hello",
        "",
        'quote " and \\ back',
        "line\nbreak\ttab\r",
        "é ü ∑ 😀 \u2028\u2029",
        "\x00\x1f",
        "a" * 5000,
    ],
)
@pytest.mark.parametrize("seq", [1, 987654])
def test_token_frame_is_the_generic_frame(delta: str, seq: int) -> None:
    for message_id in ("65f0c0ffee0123456789abcd", 'odd"id\\'):
        event = AssistantToken(message_id=message_id, seq=seq, delta=delta)
        assert encode(event) == _generic(event)
        assert json.loads(encode(event).decode().split("data: ", 1)[1]) == event.payload()


async def test_tokens_of_one_window_go_out_in_one_batch() -> None:
    generation = Generation(message_id="m", conversation_id="c", user_id="u")
    batches: list[list[int]] = []

    async def follow() -> None:
        async for batch in generation.watch(coalesce_s=0.2):
            batches.append([e.seq for e in batch if isinstance(e, AssistantToken)])

    follower = asyncio.create_task(follow())
    generation.publish(AssistantToken(message_id="m", seq=1, delta="a"))
    await asyncio.sleep(0.02)  # the first goes out at once
    assert batches == [[1]]
    for seq in (2, 3, 4):
        generation.publish(AssistantToken(message_id="m", seq=seq, delta="b"))
        await asyncio.sleep(0.01)
    assert batches == [[1]]  # still inside the window
    await asyncio.sleep(0.25)
    assert batches == [[1], [2, 3, 4]]
    await asyncio.sleep(0.1)  # the window has passed: the next token goes out at once
    generation.publish(AssistantToken(message_id="m", seq=5, delta="c"))
    await asyncio.sleep(0.02)
    assert batches == [[1], [2, 3, 4], [5]]
    generation.finish()
    await asyncio.wait_for(follower, 1)
