"""Each vendor through its real SDK against the fake server: parsing, usage, request shape."""

from __future__ import annotations

import pytest

from ai_router import AIUnavailable, ChatRequest, ChatTurn, UsageEvent
from ai_router.config import RetryConfig
from tests.ai_router.conftest import RouterFactory
from tests.ai_router.fakes import Behaviour, FakeVendors, Vendor
from tests.ai_router.helpers import collect, deltas, finish

VENDORS: list[Vendor] = ["openai", "anthropic", "gemini"]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_normal_stream_text_and_provider_usage(
    vendor: Vendor, fakes: FakeVendors, make_router: RouterFactory
) -> None:
    fakes.script(
        vendor, Behaviour(chunks=("Force ", "= ", "mass × ", "acceleration."), usage=(33, 12))
    )
    router = make_router([vendor])
    request = ChatRequest(
        message="What is force?",
        system_prompt="You are a mentor.",
        history=(ChatTurn(role="user", content="hi"), ChatTurn(role="assistant", content="hello")),
    )
    events = await collect(router, request)

    assert deltas(events) == ["Force ", "= ", "mass × ", "acceleration."]
    assert all(e.provider == vendor for e in events)
    usage = [e for e in events if isinstance(e, UsageEvent)]
    assert len(usage) == 1
    assert (usage[0].input_tokens, usage[0].output_tokens, usage[0].estimated) == (33, 12, False)
    result = finish(events).result
    assert result.text == "Force = mass × acceleration."
    assert result.finish_reason == "stop"
    assert result.provider == vendor and result.model == events[0].model
    assert result.ttft_s is not None and result.total_s >= result.ttft_s
    assert [a.outcome for a in result.attempts] == ["ok"]
    assert result.attempts[0].tokens_delivered == 4
    assert fakes.count(vendor) == 1


async def test_openai_request_asks_for_usage_and_carries_the_conversation(
    fakes: FakeVendors, make_router: RouterFactory
) -> None:
    router = make_router(["openai"])
    await collect(
        router,
        ChatRequest(
            message="Why is the sky blue?",
            system_prompt="Be brief.",
            temperature=0.2,
            user_id="user-42",
        ),
    )
    body = fakes.bodies("openai")[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][-1] == {"role": "user", "content": "Why is the sky blue?"}
    assert body["temperature"] == 0.2
    assert "user-42" not in str(body)  # vendors get a pseudonym, not our user id


async def test_anthropic_request_shape(fakes: FakeVendors, make_router: RouterFactory) -> None:
    router = make_router(["anthropic"])
    await collect(
        router, ChatRequest(message="Define entropy", system_prompt="Be brief.", max_tokens=77)
    )
    body = fakes.bodies("anthropic")[0]
    assert body["stream"] is True and body["max_tokens"] == 77
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "Define entropy"}]


async def test_gemini_request_shape(fakes: FakeVendors, make_router: RouterFactory) -> None:
    router = make_router(["gemini"])
    await collect(
        router,
        ChatRequest(
            message="Define entropy",
            system_prompt="Be brief.",
            history=(ChatTurn(role="assistant", content="Hi!"),),
        ),
    )
    rec = next(r for r in fakes.requests if r.vendor == "gemini")
    assert ":streamGenerateContent" in rec.path and "alt=sse" in rec.path
    assert [c["role"] for c in rec.body["contents"]] == ["model", "user"]
    assert rec.body["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert rec.headers["x-goog-api-key"].endswith("SECRET")


@pytest.mark.parametrize("vendor", VENDORS)
async def test_sdk_retries_are_disabled(
    vendor: Vendor, fakes: FakeVendors, make_router: RouterFactory
) -> None:
    """A 500 with router retries off must reach the vendor exactly once (SDK retries off)."""
    fakes.default[vendor] = Behaviour(kind="status", status=500)
    router = make_router([vendor])
    with pytest.raises(AIUnavailable):
        await collect(router, ChatRequest(message="hello"))
    assert fakes.count(vendor) == 1


@pytest.mark.parametrize("vendor", VENDORS)
async def test_router_retries_count_exactly(
    vendor: Vendor, fakes: FakeVendors, make_router: RouterFactory
) -> None:
    fakes.default[vendor] = Behaviour(kind="status", status=503)
    router = make_router(
        [vendor], retry=RetryConfig(max_retries=2, base_delay_s=0.001, max_delay_s=0.002)
    )
    with pytest.raises(AIUnavailable) as info:
        await collect(router, ChatRequest(message="hello"))
    assert fakes.count(vendor) == 3
    assert [a.error_code for a in info.value.attempts] == ["upstream_error"] * 3
