"""A reply is cut at `max_tokens * 6` characters: the provider stream is closed, not drained."""

from __future__ import annotations

import time

import pytest

from ai_router import ChatRequest, TextDelta
from ai_router.pricing import REPLY_CHARS_PER_TOKEN
from tests.ai_router.conftest import RouterFactory
from tests.ai_router.fakes import Behaviour, FakeVendors, Vendor
from tests.ai_router.helpers import collect, deltas, finish

VENDORS: list[Vendor] = ["openai", "anthropic", "gemini"]
NEXT: dict[Vendor, Vendor] = {"openai": "anthropic", "anthropic": "gemini", "gemini": "openai"}
# A provider that ignores max tokens: 1000-character chunks, 100 MB if read to the end.
RUNAWAY = Behaviour(chunks=("x" * 999 + " ",), repeat=100_000, chunk_delay_s=0.001)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_runaway_reply_is_cut_at_the_limit_and_upstream_closed(
    vendor: Vendor, fakes: FakeVendors, make_router: RouterFactory
) -> None:
    fakes.script(vendor, RUNAWAY)
    router = make_router([vendor])
    started = time.monotonic()
    events = await collect(
        router, ChatRequest(message="Explain inertia", max_tokens=50, provider=vendor)
    )
    assert time.monotonic() - started < 3.0
    result = finish(events).result
    limit = 50 * REPLY_CHARS_PER_TOKEN
    assert len(result.text) == limit and "".join(deltas(events)) == result.text
    assert result.finish_reason == "length"
    assert [a.outcome for a in result.attempts] == ["ok"]
    # No usage came (we hung up first): it is estimated from what was read.
    assert result.usage.estimated and result.usage.output_tokens >= limit // 4
    assert await fakes.wait_for(lambda: vendor in fakes.disconnects)
    assert fakes.requests[-1].chunks_sent < 100
    assert router.health()[vendor]["consecutive_failures"] == 0


@pytest.mark.parametrize("vendor", VENDORS)
async def test_the_limit_counts_the_whole_reply_across_failover(
    vendor: Vendor, fakes: FakeVendors, make_router: RouterFactory
) -> None:
    other = NEXT[vendor]
    fakes.script(vendor, Behaviour(kind="cut", chunks=("a" * 199 + " ",) * 3, cut_after=2))
    fakes.script(other, Behaviour(chunks=("b" * 99 + " ",), repeat=100_000, chunk_delay_s=0.001))
    router = make_router([vendor, other])
    events = await collect(
        router, ChatRequest(message="Explain inertia", max_tokens=100, provider=vendor)
    )
    result = finish(events).result
    assert len(result.text) == 100 * REPLY_CHARS_PER_TOKEN
    assert result.text.startswith("a" * 199 + " " + "a" * 199 + " b")
    assert result.finish_reason == "length" and result.provider == other
    assert [e.provider for e in events if isinstance(e, TextDelta)][:2] == [vendor, vendor]
    assert await fakes.wait_for(lambda: other in fakes.disconnects)
