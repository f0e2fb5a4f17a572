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

from ai_router.config import OFFLINE, RouterConfig, resolve_providers
from ai_router.continuation import HOLD_CHARS, ContinuationSeam, SeamOutput
from ai_router.errors import AIUnavailable, BudgetExceeded, ProviderError
from ai_router.events import Finish, StreamEvent, UsageEvent
from ai_router.health import HealthSnapshot, ProviderHealth
from ai_router.policy import Candidate, Plan, Planner
from ai_router.pricing import checked_usage, cost_usd, estimate_tokens, reply_char_limit
from ai_router.providers.base import (
    CONTINUE_INSTRUCTION,
    Provider,
    ProviderCall,
    ProviderUsage,
    incomplete,
    normalise_exception,
)
from ai_router.request import ChatRequest
from ai_router.results import Attempt, ChatResult, FinishReason, Usage
from ai_router.run import AttemptState, ReplyBuffer, RouteRun

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
        """
        started = time.perf_counter()
        request = await self._budgeted(request)
        plan = self.plan(request)
        logger.info("ai plan: %s", plan.reason)
        if not plan.candidates:
            raise AIUnavailable(f"no AI provider is available ({plan.reason})")

        loop = asyncio.get_running_loop()
        run = RouteRun(
            request=request,
            plan=plan,
            started=started,
            total_deadline=loop.time() + self._cfg.timeouts.total_s,
            reply=ReplyBuffer(limit=reply_char_limit(request.max_tokens)),
            user=_pseudonym(request.user_id),
        )
        for cand in plan.candidates:
            health = self._health[cand.provider]
            retries = 0
            while True:
                if not health.try_acquire():
                    run.attempts.append(_attempt(cand, "skipped", "circuit_open", 0.0, 0, Usage()))
                    break
                state = AttemptState(partial=run.reply.text or None, t0=loop.time())
                try:
                    async with aclosing(self._relay(run, cand, state)) as events:
                        async for event in events:
                            yield event
                    state.settled = True
                except Exception as exc:
                    err = normalise_exception(cand.provider, exc)
                    state.settled = True
                    duration = loop.time() - state.t0
                    used = (
                        _estimated_usage(plan, state.partial, state.raw_chars)
                        if state.raw_chars
                        else Usage()
                    )
                    run.add(_attempt(cand, "failed", err.code, duration, state.sent, used))
                    self._record_failure(health, err)
                    logger.warning(
                        "ai attempt failed: provider=%s model=%s code=%s status=%s "
                        "after=%.3fs delivered=%d",
                        cand.provider,
                        cand.model,
                        err.code,
                        err.status,
                        duration,
                        state.sent,
                    )
                    delay = self._retry_delay(err, retries, state.ttft is not None)
                    if delay is not None and loop.time() + delay < run.total_deadline:
                        retries += 1
                        await asyncio.sleep(delay)
                        continue
                    break
                finally:
                    if not state.settled:
                        # Consumer went away (aclose/cancel): no verdict on the provider.
                        health.release()

                health.record_success(ttft_s=state.ttft)
                used = self._accounted_usage(run, cand, state)
                run.add(_attempt(cand, "ok", None, loop.time() - state.t0, state.sent, used))
                result = run.result(cand, state.finish or "other")
                yield UsageEvent(
                    result.usage.input_tokens,
                    result.usage.output_tokens,
                    result.usage.estimated,
                    cand.provider,
                    cand.model,
                )
                yield Finish(result.finish_reason, cand.provider, cand.model, result)
                return
            if loop.time() >= run.total_deadline:
                break
        raise AIUnavailable("every AI provider failed", attempts=run.attempts)

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

    async def _relay(
        self, run: RouteRun, cand: Candidate, state: AttemptState
    ) -> AsyncGenerator[StreamEvent, None]:
        """One attempt: relays the provider's text through the continuation seam and the
        length cap. Raises ProviderError (or an SDK error) when the attempt fails.

        Reaching the cap ends the attempt as finished for `length`: leaving the `async with`
        closes the provider stream, so the rest is never read (a provider ignoring
        `max_tokens` cannot make us hold megabytes).
        """
        timeouts = self._cfg.timeouts
        loop = asyncio.get_running_loop()
        request, partial = run.request, state.partial
        call = ProviderCall(
            model=cand.model,
            system_prompt=request.system_prompt,
            history=request.history,
            message=request.message,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            user_id=run.user,
            partial=partial,
            weak_topics=request.weak_topics,
        )
        seam = ContinuationSeam(partial) if partial else None
        # What a seam may hold or drop comes on top of the reply's own limit.
        raw_limit = run.reply.limit + len(partial or "") + HOLD_CHARS
        provider = self._providers[cand.provider]
        async with aclosing(provider.stream(call)) as upstream:
            deadline = min(state.t0 + timeouts.first_token_s, run.total_deadline)
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        event = await anext(upstream)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise _timeout_error(
                        cand.provider, deadline >= run.total_deadline, state.ttft
                    ) from None
                if isinstance(event, str):
                    now = loop.time()
                    if state.ttft is None:
                        state.ttft = now - state.t0
                    state.raw_chars += len(event)
                    deadline = min(now + timeouts.idle_s, run.total_deadline)
                    out = seam.feed(event) if seam is not None else SeamOutput(event)
                    for delivered in run.deliver(out, cand, state):
                        yield delivered
                    if run.reply.full or state.raw_chars >= raw_limit:
                        state.finish = "length"
                        logger.warning(
                            "ai reply cut at its length limit: provider=%s model=%s limit=%d chars",
                            cand.provider,
                            cand.model,
                            run.reply.limit,
                        )
                        break
                elif isinstance(event, ProviderUsage):
                    state.usage = event
                else:
                    state.finish = event.reason
        if state.finish is None:
            raise incomplete(cand.provider)
        if seam is not None:
            for delivered in run.deliver(seam.flush(), cand, state):
                yield delivered

    def _accounted_usage(self, run: RouteRun, cand: Candidate, state: AttemptState) -> Usage:
        """The attempt's usage: the provider's when plausible for the text sent and received,
        else our estimate, flagged `estimated` (logged with numbers only, never text)."""
        estimate = _estimated_usage(run.plan, state.partial, state.raw_chars)
        reported = state.usage
        if reported is None:
            return estimate
        claimed = Usage(reported.input_tokens, reported.output_tokens, reported.estimated)
        request = run.request
        prompt_chars = (
            len(request.system_prompt)
            + len(request.message)
            + sum(len(t.content) for t in request.history)
        )
        turns = len(request.history) + 2
        if state.partial:
            prompt_chars += len(state.partial) + len(CONTINUE_INSTRUCTION)
            turns += 2
        used = checked_usage(
            claimed,
            estimate=estimate,
            prompt_chars=prompt_chars,
            prompt_turns=turns,
            output_chars=state.raw_chars,
            max_tokens=request.max_tokens,
        )
        if used != claimed:
            logger.warning(
                "ai usage not plausible, estimated instead: provider=%s model=%s "
                "reported_input=%d reported_output=%d prompt_chars=%d output_chars=%d",
                cand.provider,
                cand.model,
                reported.input_tokens,
                reported.output_tokens,
                prompt_chars,
                state.raw_chars,
            )
        return used

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
