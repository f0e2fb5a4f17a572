"""Small helpers shared by the ai_router tests."""

from __future__ import annotations

from ai_router import AIRouter, ChatRequest, Finish, StreamEvent, TextDelta


async def collect(router: AIRouter, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in router.stream(request)]


def deltas(events: list[StreamEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


def finish(events: list[StreamEvent]) -> Finish:
    last = events[-1]
    assert isinstance(last, Finish)
    return last
