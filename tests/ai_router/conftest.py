"""Fixtures for the ai_router suite: one fake vendor server, routers with tiny timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ai_router import AIRouter, RouterConfig
from ai_router.config import BreakerConfig, RetryConfig, TimeoutConfig
from tests.ai_router.fakes import FakeVendors

KEYS = {
    "openai": "sk-test-openai-SECRET",
    "anthropic": "sk-ant-test-SECRET",
    "gemini": "gm-test-SECRET",
}

RouterFactory = Callable[..., AIRouter]


def router_config(fakes: FakeVendors, providers: list[str], **overrides: Any) -> RouterConfig:
    values: dict[str, Any] = {
        "providers": providers,
        "offline_token_delay_ms": 0,
        "timeouts": TimeoutConfig(connect_s=1.0, first_token_s=0.4, idle_s=0.4, total_s=5.0),
        "retry": RetryConfig(
            max_retries=0, base_delay_s=0.01, max_delay_s=0.05, max_retry_after_s=2.0
        ),
        "breaker": BreakerConfig(failure_threshold=3, cooldown_s=0.2, auth_cooldown_s=60.0),
    }
    for vendor in ("openai", "anthropic", "gemini"):
        values[f"{vendor}_api_key"] = KEYS[vendor]
        values[f"{vendor}_base_url"] = getattr(fakes, f"{vendor}_url")
    values.update(overrides)
    return RouterConfig(**values)


@pytest.fixture
async def make_router(fakes: FakeVendors) -> AsyncIterator[RouterFactory]:
    made: list[AIRouter] = []

    def factory(providers: list[str], **overrides: Any) -> AIRouter:
        budget_hook = overrides.pop("budget_hook", None)
        router = AIRouter.from_config(
            router_config(fakes, providers, **overrides), budget_hook=budget_hook
        )
        made.append(router)
        return router

    yield factory
    for router in made:
        await router.aclose()
