"""The server hands its settings to the AI router: keys, base URLs and AI_PROVIDERS."""

from __future__ import annotations

from typing import Any

from server.ai import build_router, router_config
from server.config import Settings


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def test_no_keys_means_offline() -> None:
    router = build_router(_settings())
    assert router.providers == ("offline",)
    await router.aclose()
    empty = build_router(_settings(ai_providers=""))
    assert empty.providers == ("offline",)
    await empty.aclose()


async def test_keys_and_base_urls_enable_providers() -> None:
    settings = _settings(
        openai_api_key="sk-test-openai",
        openai_base_url="http://127.0.0.1:9/v1",
        anthropic_api_key="sk-ant-test",
    )
    config = router_config(settings)
    assert config.base_url("openai") == "http://127.0.0.1:9/v1"
    assert config.api_key("anthropic") == "sk-ant-test"
    assert "sk-test-openai" not in repr(config)
    router = build_router(settings)
    assert set(router.providers) == {"openai", "anthropic"}
    await router.aclose()
    only = build_router(_settings(openai_api_key="sk-x", ai_providers="openai,offline"))
    assert set(only.providers) == {"openai", "offline"}
    await only.aclose()


def test_ai_models_setting_replaces_a_providers_price_table() -> None:
    import os

    os.environ["AI_MODELS"] = (
        '{"openai": [{"name": "gpt-test", "tier": "strong", "context_window": 8000,'
        ' "input_usd_per_mtok": 1.5, "output_usd_per_mtok": 6.0}]}'
    )
    try:
        config = router_config(_settings())
    finally:
        del os.environ["AI_MODELS"]
    (spec,) = config.models["openai"]
    assert (spec.name, spec.context_window, spec.output_usd_per_mtok) == ("gpt-test", 8000, 6.0)
    assert config.models["anthropic"][0].name == "claude-sonnet-4-6"
