"""One provider attempt: open the stream, relay its text, enforce its deadlines and the length
cap, account for its usage and give the breaker its verdict.

The loop in router.py decides which attempt comes next (retry, fallback, continuation); an
attempt only knows its own call. Its text goes through the continuation seam (when it continues
a partial answer) into the request's reply (run.py), so the consumer sees one gapless answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

from ai_router.config import TimeoutConfig
from ai_router.continuation import HOLD_CHARS, ContinuationSeam
from ai_router.deadline import Deadline
from ai_router.errors import ProviderError
from ai_router.events import StreamEvent, TextDelta
from ai_router.health import ProviderHealth
from ai_router.policy import Candidate, Plan
from ai_router.pricing import checked_usage, cost_usd, estimate_tokens
from ai_router.providers.base import (
    CONTINUE_INSTRUCTION,
    Provider,
    ProviderCall,
    ProviderEvent,
    ProviderFinish,
    ProviderUsage,
    incomplete,
    normalise_exception,
)
from ai_router.results import Attempt, AttemptOutcome, ChatResult, Usage
from ai_router.run import AttemptState, RouteRun

logger = logging.getLogger("ai_router")


class ProviderAttempt:
    """One call to one candidate, made once the breaker let it through (`try_acquire`);
    `partial`: the answer delivered so far, which this call is asked to continue.

    The router drives it (`open`, `start_deadline`, then `text`/`other` per event and
    `ending`); then settle it with `succeeded()` or `failed(exc)`, and always call
    `release_unsettled()` (a consumer that went away gives the breaker no verdict).
    """

    __slots__ = (
        "_clock",
        "_health",
        "_idle_s",
        "_provider",
        "_raw_limit",
        "_seam",
        "_timeouts",
        "cand",
        "cut",
        "deadline",
        "run",
        "state",
    )

    def __init__(
        self,
        *,
        run: RouteRun,
        cand: Candidate,
        partial: str | None,
        provider: Provider,
        health: ProviderHealth,
        timeouts: TimeoutConfig,
    ) -> None:
        self.run = run
        self.cand = cand
        self._clock = asyncio.get_running_loop().time
        self.state = AttemptState(partial=partial, t0=self._clock())
        self._provider = provider
        self._health = health
        self._timeouts = timeouts
        self._idle_s = timeouts.idle_s
        self.deadline: Deadline  # set by `start_deadline`
        self.cut = False  # the reply reached its length limit: stop reading
        self._seam = ContinuationSeam(partial) if partial else None
        # What a seam may hold or drop comes on top of the reply's own limit.
        self._raw_limit = run.reply.limit + len(partial or "") + HOLD_CHARS

    @property
    def got_text(self) -> bool:
        """Whether the provider sent any text (even text the seam held back or dropped)."""
        return self.state.ttft is not None

    def open(self) -> AsyncGenerator[ProviderEvent, None]:
        """The provider's stream for this attempt; the router's loop (router.py) drives it
        directly, one `text`/`other` call per event, so no generator of ours sits between
        the provider and the consumer (issue 20). Start its `deadline` right after."""
        return self._provider.stream(self._call())

    def start_deadline(self) -> Deadline:
        """One timer for the attempt, moved per chunk (ai_router/deadline.py); close it."""
        self.deadline = Deadline(
            min(self.state.t0 + self._timeouts.first_token_s, self.run.total_deadline)
        )
        return self.deadline

    def text(self, text: str) -> TextDelta | list[StreamEvent] | None:
        """Counts a chunk of the provider's text, moves the idle deadline and returns what
        reaches the consumer: a delta (no continuation seam), a list (the seam's output), or
        None. Reaching the length cap sets `cut`: the router then closes the provider stream,
        so the rest is never read (a provider ignoring `max_tokens` cannot make us hold
        megabytes)."""
        state, run, deadline = self.state, self.run, self.deadline
        now = self._clock()
        at = now + self._idle_s
        if at >= run.total_deadline:
            deadline.move(run.total_deadline)
        elif at >= deadline.at:
            deadline.at = at  # later: no timer work (`Deadline.move`), so not even the call
        else:
            deadline.move(at)
        if state.ttft is None:
            state.ttft = now - state.t0
        state.raw_chars += len(text)
        out: TextDelta | list[StreamEvent] | None
        if self._seam is None:  # no continuation: the text goes straight out
            out = run.deliver_text(text, self.cand, state)
        else:
            out = run.deliver(self._seam.feed(text), self.cand, state)
        reply = run.reply
        if reply.chars >= reply.limit or state.raw_chars >= self._raw_limit:
            self._cut()
        return out

    def other(self, event: ProviderUsage | ProviderFinish) -> None:
        """The provider's usage or finish event."""
        if isinstance(event, ProviderUsage):
            self.state.usage = event
        else:
            self.state.finish = event.reason

    def ending(self) -> list[StreamEvent]:
        """What the seam still holds, once the stream ended; raises if it ended without the
        vendor's terminal event (a cut connection can look like a quiet end). Then the
        attempt ran to its end: a verdict on the provider is due (`succeeded`). Not settled
        yet: a consumer leaving while the seam's text goes out gives no verdict (the probe is
        released, `release_unsettled`)."""
        if self.state.finish is None:
            raise incomplete(self.cand.provider)
        if self._seam is None:
            return []
        return self.run.deliver(self._seam.flush(), self.cand, self.state)

    def succeeded(self) -> ChatResult:
        """Settles a finished attempt: a success for the breaker, its account added to the
        request's; returns the request's result."""
        state, cand = self.state, self.cand
        state.settled = True
        self._health.record_success(ttft_s=state.ttft)
        used = self._accounted_usage()
        duration = asyncio.get_running_loop().time() - state.t0
        self.run.add(attempt_record(cand, "ok", None, duration, state.sent, used))
        return self.run.result(cand, state.finish or "other")

    def failed(self, exc: Exception) -> ProviderError:
        """Settles a failed attempt: its account (estimated from the text it sent, if any)
        added to the request's, the breaker told; returns the normalised error."""
        state, cand = self.state, self.cand
        if isinstance(exc, TimeoutError):  # the wait for the provider outlasted its deadline
            exc = self._timeout_error(self.deadline.at >= self.run.total_deadline)
        err = normalise_exception(cand.provider, exc)
        state.settled = True
        duration = asyncio.get_running_loop().time() - state.t0
        used = (
            estimated_usage(self.run.plan, state.partial, state.raw_chars)
            if state.raw_chars
            else Usage()
        )
        self.run.add(attempt_record(cand, "failed", err.code, duration, state.sent, used))
        self._record_failure(err)
        logger.warning(
            "ai attempt failed: provider=%s model=%s code=%s status=%s after=%.3fs delivered=%d",
            cand.provider,
            cand.model,
            err.code,
            err.status,
            duration,
            state.sent,
        )
        return err

    def release_unsettled(self) -> None:
        """The consumer went away (aclose/cancel) mid-attempt: no verdict on the provider."""
        if not self.state.settled:
            self._health.release()

    def _call(self) -> ProviderCall:
        request = self.run.request
        return ProviderCall(
            model=self.cand.model,
            system_prompt=request.full_system_prompt(),
            history=request.history,
            message=request.message,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            user_id=self.run.user,
            partial=self.state.partial,
            weak_topics=request.weak_topics,
            passages=request.passages,
            practice=request.practice,
            variant=request.variant,
        )

    def _cut(self) -> None:
        """The reply reached its length limit: the attempt ends finished for `length`."""
        self.cut = True
        self.state.finish = "length"
        logger.warning(
            "ai reply cut at its length limit: provider=%s model=%s limit=%d chars",
            self.cand.provider,
            self.cand.model,
            self.run.reply.limit,
        )

    def _timeout_error(self, total: bool) -> ProviderError:
        provider = self.cand.provider
        if total:
            code, what = "total_timeout", "the total time limit"
        elif self.state.ttft is None:
            code, what = "first_token_timeout", "the first-token time limit"
        else:
            code, what = "idle_timeout", "the idle time limit between tokens"
        return ProviderError(
            f"{provider} exceeded {what}", code=code, provider=provider, retryable=True
        )

    def _record_failure(self, err: ProviderError) -> None:
        health = self._health
        if err.code == "auth_failed":
            health.force_open(reason=err.code)
        elif err.code == "bad_request":
            health.release()  # our request's fault, not the provider's health
        else:
            health.record_failure(code=err.code)

    def _accounted_usage(self) -> Usage:
        """The attempt's usage: the provider's when plausible for the text sent and received,
        else our estimate, flagged `estimated` (logged with numbers only, never text)."""
        state, request = self.state, self.run.request
        estimate = estimated_usage(self.run.plan, state.partial, state.raw_chars)
        reported = state.usage
        if reported is None:
            return estimate
        claimed = Usage(reported.input_tokens, reported.output_tokens, reported.estimated)
        prompt_chars = (
            len(request.full_system_prompt())
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
                self.cand.provider,
                self.cand.model,
                reported.input_tokens,
                reported.output_tokens,
                prompt_chars,
                state.raw_chars,
            )
        return used


def estimated_usage(plan: Plan, partial: str | None, out_chars: int) -> Usage:
    """Our estimate for an attempt: the plan's prompt estimate (plus the partial it was asked
    to continue) and `out_chars` of output."""
    extra = estimate_tokens(len(partial)) if partial else 0
    return Usage(plan.input_tokens_estimate + extra, estimate_tokens(out_chars), True)


def attempt_record(
    cand: Candidate,
    outcome: AttemptOutcome,
    code: str | None,
    duration: float,
    sent: int,
    used: Usage,
) -> Attempt:
    """The account of one attempt (or skip) as the result lists it."""
    return Attempt(
        provider=cand.provider,
        model=cand.model,
        outcome=outcome,
        error_code=code,
        duration_s=duration,
        tokens_delivered=sent,
        usage=used,
        cost_usd=cost_usd(cand.spec, used),
    )
