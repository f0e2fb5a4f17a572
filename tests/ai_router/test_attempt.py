"""What one provider attempt leaves behind when it does not end by itself: a consumer that
goes away mid-attempt gives the breaker no verdict, so a half-open probe is freed for the
next request instead of blocking the provider."""

from __future__ import annotations

import asyncio

from ai_router import ChatRequest, TextDelta
from tests.ai_router.conftest import RouterFactory
from tests.ai_router.fakes import Behaviour, FakeVendors
from tests.ai_router.helpers import collect, finish


async def test_consumer_leaving_a_half_open_probe_frees_it(
    fakes: FakeVendors, make_router: RouterFactory
) -> None:
    slow = Behaviour(chunks=tuple(f"w{i} " for i in range(50)), chunk_delay_s=0.05)
    fakes.script("openai", *[Behaviour(kind="status", status=502)] * 3, slow)
    router = make_router(["openai", "gemini"])  # threshold 3, cooldown 0.2 s
    request = ChatRequest(message="hi", provider="openai")
    for _ in range(3):
        await collect(router, request)
    await asyncio.sleep(0.25)
    assert router.health()["openai"]["state"] == "half_open"

    stream = router.stream(request)  # the probe
    first = await anext(stream)
    assert isinstance(first, TextDelta) and first.provider == "openai"
    await stream.aclose()
    assert await fakes.wait_for(lambda: "openai" in fakes.disconnects, within=1.0)
    snap = router.health()["openai"]
    assert snap["state"] == "half_open" and snap["consecutive_failures"] == 3

    # Not stuck "probe in flight": the next request probes openai again and closes it.
    result = finish(await collect(router, request)).result
    assert result.provider == "openai"
    assert fakes.count("openai") == 5
    assert router.health()["openai"]["state"] == "closed"


async def test_consumer_leaving_while_a_probe_continuation_flushes_frees_the_probe(
    fakes: FakeVendors, make_router: RouterFactory
) -> None:
    """The seam's held text goes out after the provider stream ended, before the success is
    recorded: a consumer leaving there gave no verdict, and must not keep the probe taken."""
    fakes.script("gemini", *[Behaviour(kind="status", status=502)] * 3)
    router = make_router(["openai", "gemini"])  # threshold 3, cooldown 0.2 s
    for _ in range(3):
        await collect(router, ChatRequest(message="hi", provider="gemini"))
    await asyncio.sleep(0.25)
    assert router.health()["gemini"]["state"] == "half_open"

    # openai is cut mid-answer; gemini (the probe) continues it with a reply shorter than
    # what the seam holds back, so all of gemini's text comes out of the final flush.
    fakes.script("openai", Behaviour(kind="cut", chunks=("Osmosis ", "is the "), cut_after=2))
    stream = router.stream(ChatRequest(message="hi", provider="openai"))
    seen: list[str] = []
    async for event in stream:
        seen.append(type(event).__name__)
        if getattr(event, "provider", None) == "gemini":
            break  # the flush's first event: leave
    await stream.aclose()
    assert "Finish" not in seen and seen[-1] in ("TextDelta", "TextReset"), seen
    assert router.health()["gemini"]["state"] == "half_open"

    # Not stuck "probe in flight": the next request probes gemini again and closes it.
    calls = fakes.count("gemini")
    result = finish(await collect(router, ChatRequest(message="hi", provider="gemini"))).result
    assert result.provider == "gemini"
    assert fakes.count("gemini") == calls + 1
    assert router.health()["gemini"]["state"] == "closed"
