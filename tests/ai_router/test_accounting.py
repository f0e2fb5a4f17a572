"""Provider usage is checked, not trusted: impossible counts are estimated, cost never < 0."""

from __future__ import annotations

import logging

import pytest

from ai_router import ChatRequest, UsageEvent
from tests.ai_router.conftest import RouterFactory
from tests.ai_router.fakes import Behaviour, FakeVendors, Vendor
from tests.ai_router.helpers import collect, finish

VENDORS: list[Vendor] = ["openai", "anthropic", "gemini"]
SECRET = "my private question about inertia"
TEXT = "The answer is forty two."  # the fake's default reply: 24 characters


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(
    "reported",
    [(-50_000, -1_000_000), (0, 0), (10**9, 10**9), (21, 10**7)],
    ids=["negative", "zero-for-text", "absurd", "output-beyond-text-and-limit"],
)
async def test_implausible_usage_is_estimated_and_flagged(
    vendor: Vendor,
    reported: tuple[int, int],
    fakes: FakeVendors,
    make_router: RouterFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fakes.script(vendor, Behaviour(usage=reported))
    router = make_router([vendor])
    request = ChatRequest(message=SECRET, provider=vendor)
    with caplog.at_level(logging.WARNING, logger="ai_router"):
        events = await collect(router, request)
    result = finish(events).result
    assert result.text == TEXT
    usage = result.usage
    assert usage.estimated is True
    assert 0 < usage.input_tokens < 1000 and 0 < usage.output_tokens <= 16
    if reported[0] == 21:  # a plausible input count is kept; only the output is replaced
        assert usage.input_tokens == 21
    assert 0 < result.cost_usd < 0.01
    assert all(a.cost_usd >= 0 for a in result.attempts)
    event = next(e for e in events if isinstance(e, UsageEvent))
    assert event.estimated is True and event.output_tokens == usage.output_tokens
    warnings = [r.getMessage() for r in caplog.records if "usage not plausible" in r.getMessage()]
    assert len(warnings) == 1 and vendor in warnings[0]
    assert SECRET not in warnings[0] and TEXT not in warnings[0]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_plausible_usage_is_kept_even_beyond_the_streamed_text(
    vendor: Vendor, fakes: FakeVendors, make_router: RouterFactory
) -> None:
    """Up to max_tokens output is plausible (reasoning tokens are billed but not streamed),
    while a count above it for 24 characters is not."""
    fakes.script(vendor, Behaviour(usage=(40, 1000)), Behaviour(usage=(40, 5000)))
    router = make_router([vendor])
    kept = finish(await collect(router, ChatRequest(message=SECRET, provider=vendor))).result
    assert (kept.usage.input_tokens, kept.usage.output_tokens, kept.usage.estimated) == (
        40,
        1000,
        False,
    )
    replaced = finish(await collect(router, ChatRequest(message=SECRET, provider=vendor))).result
    assert replaced.usage.estimated is True and replaced.usage.output_tokens == 6
