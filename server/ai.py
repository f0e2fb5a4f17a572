"""Builds the AI router from the one Settings object; `ai_router/` itself never reads settings."""

from __future__ import annotations

from ai_router import AIRouter, ModelSpec, RouterConfig
from ai_router.config import default_models
from server import telemetry
from server.config import Settings


def router_config(settings: Settings) -> RouterConfig:
    # Settings has already parsed AI_PROVIDERS (an empty value means "unset"), so the router
    # gets a list or None, never the raw environment string.
    models = default_models()
    for provider, specs in (settings.ai_models or {}).items():
        models[provider] = tuple(ModelSpec.model_validate(spec) for spec in specs)
    return RouterConfig(
        openai_api_key=settings.openai_api_key,
        openai_base_url=settings.openai_base_url or None,
        anthropic_api_key=settings.anthropic_api_key,
        anthropic_base_url=settings.anthropic_base_url or None,
        gemini_api_key=settings.gemini_api_key,
        gemini_base_url=settings.gemini_base_url or None,
        providers=settings.ai_providers,
        offline_token_delay_ms=settings.offline_token_delay_ms,
        models=models,
    )


def build_router(settings: Settings) -> AIRouter:
    # Each provider call is a span when tracing is on (server/telemetry.py); None otherwise.
    return AIRouter.from_config(router_config(settings), wrap_provider=telemetry.provider_wrapper())
