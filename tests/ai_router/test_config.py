"""RouterConfig: provider resolution and secrets that never print."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ai_router import RouterConfig, resolve_providers


def test_default_providers_are_those_with_keys() -> None:
    assert resolve_providers(RouterConfig()) == ["offline"]
    cfg = RouterConfig(anthropic_api_key="a", gemini_api_key="g")
    assert resolve_providers(cfg) == ["anthropic", "gemini"]


def test_explicit_provider_list_from_env_string() -> None:
    cfg = RouterConfig(providers="openai, offline", openai_api_key="k")  # type: ignore[arg-type]
    assert resolve_providers(cfg) == ["openai", "offline"]


def test_listed_provider_without_key_or_url_is_dropped() -> None:
    cfg = RouterConfig(
        providers=["anthropic", "openai", "offline"], openai_base_url="http://localhost:11434/v1"
    )
    assert resolve_providers(cfg) == ["openai", "offline"]


def test_unknown_provider_rejected() -> None:
    with pytest.raises(ValidationError):
        RouterConfig(providers=["openai", "mistral"])


def test_keys_never_print() -> None:
    cfg = RouterConfig(openai_api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(cfg) and "sk-very-secret" not in str(cfg.model_dump())
    assert cfg.api_key("openai") == "sk-very-secret"
