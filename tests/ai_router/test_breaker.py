"""Circuit breaker per provider: opens after N failures, half-opens after the cooldown."""

from __future__ import annotations

import asyncio

from ai_router import ChatRequest
from ai_router.config import BreakerConfig
from ai_router.health import ProviderHealth
from tests.ai_router.conftest import RouterFactory
from tests.ai_router.fakes import Behaviour, FakeVendors
from tests.ai_router.helpers import collect, finish


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_state_machine() -> None:
    clock = Clock()
    h = ProviderHealth(config=BreakerConfig(failure_threshold=2, cooldown_s=10), clock=clock)
    assert h.try_acquire() and h.state == "closed"
    h.record_failure(code="upstream_error")
    assert h.state == "closed" and h.consecutive_failures == 1
    h.record_failure(code="upstream_error")
    assert h.state == "open" and not h.try_acquire()
    clock.now = 10.0
    assert h.state == "half_open"
    assert h.try_acquire()  # the single probe
    assert not h.try_acquire()  # nobody else while it is in flight
    h.record_failure(code="timeout")
    assert h.state == "open"  # failed probe re-opens
    clock.now = 20.0
    assert h.try_acquire()
    h.record_success(ttft_s=0.5)
    assert h.state == "closed" and h.consecutive_failures == 0
    assert h.snapshot()["latency_ewma_s"] == 0.5


def test_latency_ewma() -> None:
    h = ProviderHealth(config=BreakerConfig(latency_alpha=0.5))
    h.observe_latency(1.0)
    h.observe_latency(3.0)
    assert h.latency_ewma_s == 2.0


async def test_breaker_opens_then_half_opens_through_the_router(
    fakes: FakeVendors, make_router: RouterFactory
) -> None:
    fakes.script("openai", *[Behaviour(kind="status", status=502)] * 3)
    router = make_router(["openai", "gemini"])  # threshold 3, cooldown 0.2 s
    request = ChatRequest(message="hi", provider="openai")
    for _ in range(3):
        assert finish(await collect(router, request)).result.provider == "gemini"
    assert router.health()["openai"]["state"] == "open"
    assert router.health()["openai"]["consecutive_failures"] == 3

    # While open, openai is not called at all.
    assert finish(await collect(router, request)).result.provider == "gemini"
    assert fakes.count("openai") == 3

    await asyncio.sleep(0.25)
    assert router.health()["openai"]["state"] == "half_open"
    result = finish(await collect(router, request)).result  # the probe succeeds
    assert result.provider == "openai"
    assert fakes.count("openai") == 4
    snap = router.health()["openai"]
    assert snap["state"] == "closed" and snap["consecutive_failures"] == 0
    assert snap["latency_ewma_s"] is not None
