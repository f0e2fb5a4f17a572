"""AIRouter: plans a request, streams it from the best provider, and survives failures.

Execution rules (see docs/AI_ROUTER.md): first-token / idle / total timeouts; retries with
full-jitter backoff only before an attempt's first token and only for retryable errors; a
circuit breaker per provider; fallback to the next candidate; mid-stream failover that asks
the next model to continue the partial answer; upstream closed when the consumer stops.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing

from ai_router.config import OFFLINE, RouterConfig, resolve_providers
from ai_router.continuation import OverlapTrimmer
from ai_router.errors import AIUnavailable, BudgetExceeded, ProviderError
from ai_router.events import Finish, StreamEvent, TextDelta, UsageEvent
from ai_router.health import HealthSnapshot, ProviderHealth
from ai_router.policy import Candidate, Plan, Planner
from ai_router.pricing import cost_usd, estimate_tokens
from ai_router.providers.base import (
    Provider,
    ProviderCall,
    ProviderFinish,
    ProviderUsage,
    incomplete,
    normalise_exception,
)
from ai_router.request import ChatRequest
from ai_router.results import Attempt, ChatResult, FinishReason, Usage

logger = logging.getLogger("ai_router")

BudgetHook = Callable[[ChatRequest], Awaitable[float | None]]
"""Returns the learner's remaining budget in USD (None: unlimited); called before any call."""


def _build_provider(name: str, config: RouterConfig) -> Provider:
    key, url, timeouts = config.api_key(name), config.base_url(name), config.timeouts
    if name == "openai":
        from ai_router.providers.openai_chat import OpenAIProvider

        return OpenAIProvider(api_key=key, base_url=url, timeouts=timeouts)
    if name == "anthropic":
        from ai_router.providers.anthropic_messages import AnthropicProvider

        return AnthropicProvider(api_key=key, base_url=url, timeouts=timeouts)
    if name == "gemini":
        from ai_router.providers.gemini_genai import GeminiProvider

        return GeminiProvider(api_key=key, base_url=url, timeouts=timeouts)
    if name == OFFLINE:
        from ai_router.providers.offline_mentor import OfflineProvider

        return OfflineProvider(token_delay_s=config.offline_token_delay_ms / 1000)
    raise ValueError(f"unknown AI provider {name!r}")


def _pseudonym(user_id: str | None) -> str | None:
    """Vendors get a stable pseudonym for abuse tracking, never our user id."""
    if not user_id:
        return None
    return hashlib.sha256(user_id.encode()).hexdigest()[:32]


class AIRouter:
    """Routes chat requests across providers. Build with `from_config`; `aclose` at shutdown."""

    def __init__(
        self,
        *,
        config: RouterConfig,
        providers: Mapping[str, Provider],
        budget_hook: BudgetHook | None = None,
        random_fn: Callable[[], float] = random.random,
    ) -> None:
        self._cfg = config
        self._providers = dict(providers)
        self._budget_hook = budget_hook
        self._random = random_fn
        self._health = {name: ProviderHealth(config=config.breaker) for name in self._providers}
        self._planner = Planner(config=config, enabled=tuple(self._providers), health=self._health)

    @classmethod
    def from_config(
        cls, config: RouterConfig, *, budget_hook: BudgetHook | None = None
    ) -> AIRouter:
        """Create SDK clients for the providers `resolve_providers(config)` enables."""
        names = resolve_providers(config)
        providers = {name: _build_provider(name, config) for name in names}
        logger.info("ai router providers: %s", ", ".join(names) or "none")
        return cls(config=config, providers=providers, budget_hook=budget_hook)

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self._providers)

    def plan(self, request: ChatRequest) -> Plan:
        """Ordered candidates and reason; synchronous and I/O-free (microseconds)."""
        return self._planner.plan(request)

    def health(self) -> dict[str, HealthSnapshot]:
        """Breaker state, consecutive failures and TTFT EWMA per provider."""
        return {name: h.snapshot() for name, h in self._health.items()}

    async def complete(self, request: ChatRequest) -> ChatResult:
        """Run `stream` to the end and return its result."""
        async with aclosing(self.stream(request)) as events:
            async for event in events:
                if isinstance(event, Finish):
                    return event.result
        raise AIUnavailable("the stream ended without a result")  # pragma: no cover

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """Stream the answer: TextDelta..., UsageEvent, Finish(result).

        Raises BudgetExceeded before any provider call when no budget is left, and
        AIUnavailable (listing attempts) when every candidate failed.
        """
        started = time.perf_counter()
        if self._budget_hook is not None:
            remaining = await self._budget_hook(request)
            if remaining is not None:
                if remaining <= 0:
                    raise BudgetExceeded("the daily AI budget is used up")
                current = request.remaining_budget_usd
                if current is None or remaining < current:
                    request = request.model_copy(update={"remaining_budget_usd": remaining})
        plan = self.plan(request)
        logger.info("ai plan: %s", plan.reason)
        if not plan.candidates:
            raise AIUnavailable(f"no AI provider is available ({plan.reason})")

        cfg = self._cfg
        loop = asyncio.get_running_loop()
        total_deadline = loop.time() + cfg.timeouts.total_s
        delivered: list[str] = []
        attempts: list[Attempt] = []
        usage_total = Usage()
        cost_total = 0.0
        ttft: float | None = None
        user = _pseudonym(request.user_id)

        for cand in plan.candidates:
            provider = self._providers[cand.provider]
            health = self._health[cand.provider]
            retries = 0
            while True:
                if not health.try_acquire():
                    attempts.append(_attempt(cand, "skipped", "circuit_open", 0.0, 0, Usage()))
                    break
                partial = "".join(delivered) if delivered else None
                call = ProviderCall(
                    model=cand.model,
                    system_prompt=request.system_prompt,
                    history=request.history,
                    message=request.message,
                    max_tokens=request.max_tokens,
                    temperature=request.temperature,
                    user_id=user,
                    partial=partial,
                    weak_topics=request.weak_topics,
                )
                trimmer = OverlapTrimmer(partial) if partial else None
                t0 = loop.time()
                sent = 0
                raw_chars = 0
                attempt_ttft: float | None = None
                provider_usage: ProviderUsage | None = None
                finish: ProviderFinish | None = None
                settled = False
                try:
                    async with aclosing(provider.stream(call)) as upstream:
                        deadline = min(t0 + cfg.timeouts.first_token_s, total_deadline)
                        while True:
                            try:
                                async with asyncio.timeout_at(deadline):
                                    event = await anext(upstream)
                            except StopAsyncIteration:
                                break
                            except TimeoutError:
                                raise _timeout_error(
                                    cand.provider, deadline >= total_deadline, attempt_ttft
                                ) from None
                            if isinstance(event, str):
                                now = loop.time()
                                if attempt_ttft is None:
                                    attempt_ttft = now - t0
                                raw_chars += len(event)
                                deadline = min(now + cfg.timeouts.idle_s, total_deadline)
                                text = trimmer.feed(event) if trimmer is not None else event
                                if text:
                                    if ttft is None:
                                        ttft = time.perf_counter() - started
                                    delivered.append(text)
                                    sent += 1
                                    yield TextDelta(text, cand.provider, cand.model)
                            elif isinstance(event, ProviderUsage):
                                provider_usage = event
                            else:
                                finish = event
                    if finish is None:
                        raise incomplete(cand.provider)
                    if trimmer is not None and (rest := trimmer.flush()):
                        if ttft is None:
                            ttft = time.perf_counter() - started
                        delivered.append(rest)
                        sent += 1
                        yield TextDelta(rest, cand.provider, cand.model)
                except Exception as exc:
                    err = normalise_exception(cand.provider, exc)
                    settled = True
                    duration = loop.time() - t0
                    used = _estimated_usage(plan, partial, raw_chars) if raw_chars else Usage()
                    attempts.append(_attempt(cand, "failed", err.code, duration, sent, used))
                    usage_total += used
                    cost_total += cost_usd(cand.spec, used)
                    self._record_failure(health, err)
                    logger.warning(
                        "ai attempt failed: provider=%s model=%s code=%s status=%s "
                        "after=%.3fs delivered=%d",
                        cand.provider,
                        cand.model,
                        err.code,
                        err.status,
                        duration,
                        sent,
                    )
                    delay = self._retry_delay(err, retries, attempt_ttft is not None)
                    if delay is not None and loop.time() + delay < total_deadline:
                        retries += 1
                        await asyncio.sleep(delay)
                        continue
                    break
                finally:
                    if not settled and finish is None:
                        # Consumer went away (aclose/cancel): no verdict on the provider.
                        health.release()

                duration = loop.time() - t0
                if provider_usage is not None:
                    used = Usage(
                        provider_usage.input_tokens,
                        provider_usage.output_tokens,
                        provider_usage.estimated,
                    )
                else:
                    used = _estimated_usage(plan, partial, raw_chars)
                health.record_success(ttft_s=attempt_ttft)
                attempts.append(_attempt(cand, "ok", None, duration, sent, used))
                usage_total += used
                cost_total += cost_usd(cand.spec, used)
                result = ChatResult(
                    text="".join(delivered),
                    usage=usage_total,
                    cost_usd=cost_total,
                    provider=cand.provider,
                    model=cand.model,
                    finish_reason=finish.reason if finish else "other",
                    plan_reason=plan.reason,
                    ttft_s=ttft,
                    total_s=time.perf_counter() - started,
                    attempts=tuple(attempts),
                )
                yield UsageEvent(
                    usage_total.input_tokens,
                    usage_total.output_tokens,
                    usage_total.estimated,
                    cand.provider,
                    cand.model,
                )
                yield Finish(result.finish_reason, cand.provider, cand.model, result)
                return
            if loop.time() >= total_deadline:
                break
        raise AIUnavailable("every AI provider failed", attempts=attempts)

    def _record_failure(self, health: ProviderHealth, err: ProviderError) -> None:
        if err.code == "auth_failed":
            health.force_open(reason=err.code)
        elif err.code == "bad_request":
            health.release()  # our request's fault, not the provider's health
        else:
            health.record_failure(code=err.code)

    def _retry_delay(self, err: ProviderError, retries: int, got_token: bool) -> float | None:
        """Full-jitter exponential backoff, at least Retry-After (capped); None: don't retry."""
        cfg = self._cfg.retry
        if got_token or not err.retryable or retries >= cfg.max_retries:
            return None
        if err.code == "total_timeout":
            return None
        delay = self._random() * min(cfg.max_delay_s, cfg.base_delay_s * (2**retries))
        if err.retry_after is not None:
            delay = max(delay, min(err.retry_after, cfg.max_retry_after_s))
        return delay


def _timeout_error(provider: str, total: bool, ttft: float | None) -> ProviderError:
    if total:
        code, what = "total_timeout", "the total time limit"
    elif ttft is None:
        code, what = "first_token_timeout", "the first-token time limit"
    else:
        code, what = "idle_timeout", "the idle time limit between tokens"
    return ProviderError(
        f"{provider} exceeded {what}", code=code, provider=provider, retryable=True
    )


def _estimated_usage(plan: Plan, partial: str | None, out_chars: int) -> Usage:
    extra = estimate_tokens(len(partial)) if partial else 0
    return Usage(plan.input_tokens_estimate + extra, estimate_tokens(out_chars), True)


def _attempt(
    cand: Candidate, outcome: str, code: str | None, duration: float, sent: int, used: Usage
) -> Attempt:
    return Attempt(
        provider=cand.provider,
        model=cand.model,
        outcome=outcome,  # type: ignore[arg-type]
        error_code=code,
        duration_s=duration,
        tokens_delivered=sent,
        usage=used,
        cost_usd=cost_usd(cand.spec, used),
    )


__all__ = ["AIRouter", "BudgetHook", "FinishReason"]
