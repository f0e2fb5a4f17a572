"""AIRouter: plans a request, streams it from the best provider, and survives failures.

Execution rules (see docs/AI_ROUTER.md): first-token / idle / total timeouts; retries with
full-jitter backoff only before an attempt's first token and only for retryable errors; a
circuit breaker per provider; fallback to the next candidate; mid-stream failover that asks
the next model to continue the partial answer (a restart is spliced or withdrawn, see
continuation.py); a reply length cap; provider usage checked for plausibility; upstream
closed when the consumer stops or the cap is reached.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing

from ai_router.attempt import ProviderAttempt, attempt_record
from ai_router.config import OFFLINE, RouterConfig, resolve_providers
from ai_router.errors import AIUnavailable, BudgetExceeded, ProviderError
from ai_router.events import Finish, StreamEvent, TextDelta, UsageEvent
from ai_router.health import HealthSnapshot, ProviderHealth
from ai_router.policy import Candidate, Plan, Planner
from ai_router.pricing import reply_char_limit
from ai_router.providers.base import Provider
from ai_router.request import ChatRequest
from ai_router.results import ChatResult, FinishReason, Usage
from ai_router.run import ReplyBuffer, RouteRun

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


def _closing_events(result: ChatResult) -> tuple[UsageEvent, Finish]:
    """The request's token counts (all attempts), then its `Finish`."""
    usage, provider, model = result.usage, result.provider, result.model
    return (
        UsageEvent(usage.input_tokens, usage.output_tokens, usage.estimated, provider, model),
        Finish(result.finish_reason, provider, model, result),
    )


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
        cls,
        config: RouterConfig,
        *,
        budget_hook: BudgetHook | None = None,
        wrap_provider: Callable[[Provider], Provider] | None = None,
    ) -> AIRouter:
        """Create SDK clients for the providers `resolve_providers(config)` enables;
        `wrap_provider` (e.g. the server's tracing) wraps each of them."""
        names = resolve_providers(config)
        providers = {name: _build_provider(name, config) for name in names}
        if wrap_provider is not None:
            providers = {name: wrap_provider(p) for name, p in providers.items()}
        logger.info("ai router providers: %s", ", ".join(names) or "none")
        return cls(config=config, providers=providers, budget_hook=budget_hook)

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self._providers)

    def plan(self, request: ChatRequest) -> Plan:
        """Ordered candidates and reason; synchronous and I/O-free (microseconds)."""
        return self._planner.plan(request)

    def allows(self, provider: str, *, allowed_providers: tuple[str, ...] | None) -> bool:
        """Whether `provider` is enabled here and allowed by `allowed_providers` (an
        organization's list; None: no restriction). Planning silently skips a pinned provider
        that is not; callers that must refuse such a request ask this first."""
        return provider in self._planner.allowed(allowed_providers)

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
        """Stream the answer: TextDelta..., UsageEvent, Finish(result); rarely a TextReset.

        Raises BudgetExceeded before any provider call when no budget is left, and
        AIUnavailable (listing attempts) when every candidate failed. The answer is cut at
        `reply_char_limit(request.max_tokens)` characters (finish reason `length`).

        Walks the candidates in plan order: retries one only before its first token and only
        for retryable errors, then falls back to the next, which continues the partial answer
        (attempt.py); it drives the provider's stream itself, one generator less (issue 20).
        """
        run = await self._start(request)
        clock, cands = asyncio.get_running_loop().time, run.plan.candidates
        index = retries = 0
        while index < len(cands):
            if (attempt := self._open_attempt(run, cands[index])) is not None:
                try:
                    upstream = attempt.open()  # closed below, like `aclosing` would
                    step, deadline = upstream.__anext__, attempt.start_deadline()
                    try:
                        while not attempt.cut:  # leaving closes the provider's stream
                            deadline.arm()  # raises DeadlinePassed (a TimeoutError)
                            try:
                                event = await step()
                            except StopAsyncIteration:
                                break
                            except asyncio.CancelledError:
                                deadline.interrupted()  # DeadlinePassed if it was ours
                                raise
                            deadline.waiting = False
                            if type(event) is not str and not isinstance(event, str):
                                attempt.other(event)
                                continue
                            out = attempt.text(event)
                            if isinstance(out, TextDelta):
                                yield out
                            elif out:
                                for each in out:
                                    yield each
                    finally:
                        deadline.close()
                        await upstream.aclose()
                    for each in attempt.ending():
                        yield each
                except Exception as exc:
                    delay = self._retry_delay(attempt.failed(exc), retries, attempt.got_text)
                    if delay is not None and clock() + delay < run.total_deadline:
                        retries += 1
                        await asyncio.sleep(delay)
                        continue
                else:
                    for each in _closing_events(attempt.succeeded()):
                        yield each
                    return
                finally:
                    attempt.release_unsettled()
            if clock() >= run.total_deadline:
                break
            index, retries = index + 1, 0
        raise AIUnavailable("every AI provider failed", attempts=run.attempts)

    async def _start(self, request: ChatRequest) -> RouteRun:
        """Budget and plan the request (raising when there is nothing to try) and start its
        clocks: TTFT and total time count from here."""
        started = time.perf_counter()
        request = await self._budgeted(request)
        plan = self.plan(request)
        logger.info("ai plan: %s", plan.reason)
        if not plan.candidates:
            raise AIUnavailable(f"no AI provider is available ({plan.reason})")
        return RouteRun(
            request=request,
            plan=plan,
            started=started,
            total_deadline=asyncio.get_running_loop().time() + self._cfg.timeouts.total_s,
            reply=ReplyBuffer(limit=reply_char_limit(request.max_tokens)),
            user=_pseudonym(request.user_id),
        )

    def _open_attempt(self, run: RouteRun, cand: Candidate) -> ProviderAttempt | None:
        """The next attempt on `cand`, or None (recorded as skipped) if its breaker is open."""
        health = self._health[cand.provider]
        if not health.try_acquire():
            run.attempts.append(attempt_record(cand, "skipped", "circuit_open", 0.0, 0, Usage()))
            return None
        return ProviderAttempt(
            run=run,
            cand=cand,
            # After a mid-stream failure the next attempt continues what the consumer already
            # has (its seam splices or withdraws what comes back, see continuation.py).
            partial=run.reply.text or None,
            provider=self._providers[cand.provider],
            health=health,
            timeouts=self._cfg.timeouts,
        )

    async def _budgeted(self, request: ChatRequest) -> ChatRequest:
        """The request with the budget hook's remaining budget (when lower)."""
        if self._budget_hook is None:
            return request
        remaining = await self._budget_hook(request)
        if remaining is None:
            return request
        if remaining <= 0:
            raise BudgetExceeded("the daily AI budget is used up")
        current = request.remaining_budget_usd
        if current is None or remaining < current:
            return request.model_copy(update={"remaining_budget_usd": remaining})
        return request

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


__all__ = ["AIRouter", "BudgetHook", "FinishReason"]
