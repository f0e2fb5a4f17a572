"""Router configuration: a plain pydantic model the server's single Settings object builds."""

from __future__ import annotations

import logging
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ai_router.tasks import TaskType

logger = logging.getLogger("ai_router")

KNOWN_PROVIDERS: Final[tuple[str, ...]] = ("openai", "anthropic", "gemini", "offline")
OFFLINE: Final[str] = "offline"


def known_providers(value: list[str] | None) -> list[str] | None:
    """Known provider names only, duplicates dropped, order kept (router settings and an
    organization's `allowed_providers` alike); None stays None, meaning "no restriction"."""
    if value is None:
        return None
    unknown = [p for p in value if p not in KNOWN_PROVIDERS]
    if unknown:
        raise ValueError(f"unknown AI provider(s): {', '.join(unknown)}")
    return list(dict.fromkeys(value))


Tier = Literal["strong", "fast"]


class ModelSpec(BaseModel):
    """One model: its tier, context window and price (USD per million tokens)."""

    model_config = ConfigDict(frozen=True)

    name: str
    tier: Tier
    context_window: int = Field(gt=0)
    input_usd_per_mtok: float = Field(ge=0)
    output_usd_per_mtok: float = Field(ge=0)


def default_models() -> dict[str, tuple[ModelSpec, ...]]:
    """List prices and windows as published by each vendor (late 2025)."""
    return {
        "openai": (
            ModelSpec(
                name="gpt-4.1",
                tier="strong",
                context_window=1_047_576,
                input_usd_per_mtok=2.0,
                output_usd_per_mtok=8.0,
            ),
            ModelSpec(
                name="gpt-4.1-mini",
                tier="fast",
                context_window=1_047_576,
                input_usd_per_mtok=0.4,
                output_usd_per_mtok=1.6,
            ),
        ),
        "anthropic": (
            ModelSpec(
                name="claude-sonnet-4-6",
                tier="strong",
                context_window=200_000,
                input_usd_per_mtok=3.0,
                output_usd_per_mtok=15.0,
            ),
            ModelSpec(
                name="claude-haiku-4-5",
                tier="fast",
                context_window=200_000,
                input_usd_per_mtok=1.0,
                output_usd_per_mtok=5.0,
            ),
        ),
        "gemini": (
            ModelSpec(
                name="gemini-2.5-pro",
                tier="strong",
                context_window=1_048_576,
                input_usd_per_mtok=1.25,
                output_usd_per_mtok=10.0,
            ),
            ModelSpec(
                name="gemini-2.5-flash",
                tier="fast",
                context_window=1_048_576,
                input_usd_per_mtok=0.3,
                output_usd_per_mtok=2.5,
            ),
        ),
        "offline": (
            ModelSpec(
                name="offline-mentor-1",
                tier="strong",
                context_window=1_000_000,
                input_usd_per_mtok=0.0,
                output_usd_per_mtok=0.0,
            ),
        ),
    }


def default_task_routes() -> dict[TaskType, tuple[tuple[str, Tier], ...]]:
    """Provider order and model tier per task; offline is never listed (last resort only)."""
    return {
        TaskType.QUICK_DOUBT: (("openai", "fast"), ("gemini", "fast"), ("anthropic", "fast")),
        TaskType.STEP_BY_STEP: (
            ("anthropic", "strong"),
            ("openai", "strong"),
            ("gemini", "strong"),
        ),
        TaskType.LONG_FORM: (("anthropic", "strong"), ("gemini", "strong"), ("openai", "strong")),
        TaskType.REVISION_SUMMARY: (("gemini", "fast"), ("openai", "fast"), ("anthropic", "fast")),
        TaskType.CODE: (("openai", "strong"), ("anthropic", "strong"), ("gemini", "strong")),
    }


class TimeoutConfig(BaseModel):
    """Seconds. `total_s` bounds the whole request across retries and fallbacks."""

    connect_s: float = Field(default=5.0, gt=0)
    first_token_s: float = Field(default=20.0, gt=0)
    idle_s: float = Field(default=30.0, gt=0)
    total_s: float = Field(default=180.0, gt=0)


class RetryConfig(BaseModel):
    """Retries on the same provider, only before its first token (SDK retries are off)."""

    max_retries: int = Field(default=1, ge=0)
    base_delay_s: float = Field(default=0.25, ge=0)
    max_delay_s: float = Field(default=4.0, ge=0)
    max_retry_after_s: float = Field(
        default=10.0, ge=0, description="Cap on how long a Retry-After is honoured."
    )


class BreakerConfig(BaseModel):
    """Per-provider circuit breaker and latency tracking."""

    failure_threshold: int = Field(default=5, ge=1)
    cooldown_s: float = Field(default=30.0, ge=0)
    auth_cooldown_s: float = Field(default=300.0, ge=0, description="After a 401.")
    latency_alpha: float = Field(default=0.3, gt=0, le=1)
    slow_ttft_s: float = Field(
        default=8.0, gt=0, description="A provider whose TTFT EWMA exceeds this is demoted."
    )


class RouterConfig(BaseModel):
    """Everything the router needs; API keys are `SecretStr` so they never print."""

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str | None = None
    providers: list[str] | None = Field(
        default=None,
        description="AI_PROVIDERS: providers the deployment allows, in no particular order. "
        "None: every provider with a key, else ['offline'] (see resolve_providers).",
    )
    offline_token_delay_ms: int = Field(default=20, ge=0)
    models: dict[str, tuple[ModelSpec, ...]] = Field(default_factory=default_models)
    task_routes: dict[TaskType, tuple[tuple[str, Tier], ...]] = Field(
        default_factory=default_task_routes
    )
    timeouts: TimeoutConfig = Field(default_factory=TimeoutConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)

    @field_validator("providers", mode="before")
    @classmethod
    def _split_providers(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip().lower() for p in value.split(",") if p.strip()]
        return value

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: list[str] | None) -> list[str] | None:
        return known_providers(value)

    def api_key(self, provider: str) -> str | None:
        """The provider's key as plain text (only for handing to its SDK)."""
        secret: SecretStr | None = getattr(self, f"{provider}_api_key", None)
        return secret.get_secret_value() if secret is not None else None

    def base_url(self, provider: str) -> str | None:
        value: str | None = getattr(self, f"{provider}_base_url", None)
        return value or None


def resolve_providers(config: RouterConfig) -> list[str]:
    """AI_PROVIDERS, or every provider with a key, else ['offline'].

    A listed provider with neither key nor base URL cannot work and is dropped (logged once);
    a base URL without a key is allowed for OpenAI-compatible local servers.
    """
    if config.providers is None:
        found = [p for p in KNOWN_PROVIDERS if p != OFFLINE and config.api_key(p)]
        return found or [OFFLINE]
    usable: list[str] = []
    for p in config.providers:
        if p == OFFLINE or config.api_key(p) or config.base_url(p):
            usable.append(p)
        else:
            logger.warning("ai provider %s is listed but has no API key; disabled", p)
    return usable
