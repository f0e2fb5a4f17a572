"""The offline mentor: deterministic, topic-aware, guides problems, mentions weak topics.

The grounded tutor (passages, intents, Hinglish, regenerate): test_offline_tutor.py."""

from __future__ import annotations

import time

from ai_router import ChatRequest, TextDelta, UsageEvent
from tests.ai_router.conftest import RouterFactory
from tests.ai_router.fakes import FakeVendors
from tests.ai_router.helpers import collect, deltas, finish

PHYSICS = "A projectile is launched at 20 m/s at 30 degrees. Find the range."


async def test_offline_is_deterministic_and_streams_words(make_router: RouterFactory) -> None:
    router = make_router(["offline"])
    a = await collect(router, ChatRequest(message=PHYSICS))
    b = await collect(router, ChatRequest(message=PHYSICS))
    assert deltas(a) == deltas(b)
    assert len(deltas(a)) > 20  # word by word
    assert all(len(d.split()) == 1 for d in deltas(a))
    assert finish(a).result.provider == "offline" and finish(a).result.cost_usd == 0.0


async def test_offline_guides_by_subject_without_passages(make_router: RouterFactory) -> None:
    """Without the server (no passages), problems get a first step and the subject's hint."""
    router = make_router(["offline"])
    cases = {
        PHYSICS: "horizontal and vertical",
        "Calculate the molarity of 4 g NaOH in 500 mL": "molarity =",
        "How do I integrate x e^x?": "integration by parts",
    }
    for message, hint in cases.items():
        text = finish(await collect(router, ChatRequest(message=message))).result.text
        assert hint in text, message
        assert "Step 1" in text or "First step" in text, message


async def test_offline_mentions_weak_topics(make_router: RouterFactory) -> None:
    router = make_router(["offline"])
    related = finish(
        await collect(router, ChatRequest(message=PHYSICS, weak_topics=("projectile motion",)))
    ).result.text
    assert "projectile motion, which you marked as a weak topic" in related
    other = finish(
        await collect(
            router,
            ChatRequest(message=PHYSICS, weak_topics=("thermodynamics", "organic chemistry")),
        )
    ).result.text
    assert "revisit your weak topics: thermodynamics, organic chemistry" in other


async def test_offline_usage_is_estimated_word_count(make_router: RouterFactory) -> None:
    router = make_router(["offline"])
    events = await collect(router, ChatRequest(message="What is inertia?"))
    usage = next(e for e in events if isinstance(e, UsageEvent))
    assert usage.estimated is True
    assert usage.input_tokens == 3
    assert usage.output_tokens == len(deltas(events))


async def test_offline_pace_is_configurable(make_router: RouterFactory) -> None:
    slow = make_router(["offline"], offline_token_delay_ms=5)
    started = time.perf_counter()
    events = await collect(slow, ChatRequest(message="What is inertia?"))
    n = sum(isinstance(e, TextDelta) for e in events)
    assert time.perf_counter() - started >= n * 0.005


async def test_offline_is_last_resort_when_vendors_fail(
    fakes: FakeVendors, make_router: RouterFactory
) -> None:
    from tests.ai_router.fakes import Behaviour

    fakes.default["openai"] = Behaviour(kind="status", status=503)
    router = make_router(["openai", "offline"])
    result = finish(await collect(router, ChatRequest(message=PHYSICS))).result
    assert result.provider == "offline"
    assert [a.provider for a in result.attempts] == ["openai", "offline"]
