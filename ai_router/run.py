"""The state of one routed request: the reply assembled across attempts (its length cap and
resets) and what each attempt produced. Kept apart from the candidate loop in router.py and
the single provider attempt in attempt.py, which both work on it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from ai_router.continuation import SeamOutput
from ai_router.events import StreamEvent, TextDelta, TextReset, text_delta
from ai_router.policy import Candidate, Plan
from ai_router.providers.base import ProviderUsage
from ai_router.request import ChatRequest
from ai_router.results import Attempt, ChatResult, FinishReason, Usage

logger = logging.getLogger("ai_router")


@dataclass(slots=True)
class ReplyBuffer:
    """The answer assembled across attempts; never longer than `limit` characters."""

    limit: int
    parts: list[str] = field(default_factory=list)
    chars: int = 0

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def full(self) -> bool:
        return self.chars >= self.limit

    def take(self, text: str) -> str:
        """Appends as much of `text` as fits and returns it."""
        text = text[: max(0, self.limit - self.chars)]
        if text:
            self.parts.append(text)
            self.chars += len(text)
        return text

    def clear(self) -> None:
        self.parts.clear()
        self.chars = 0


@dataclass(slots=True)
class AttemptState:
    """What one attempt produced (attempt.py fills it); its account once it ends or fails."""

    partial: str | None
    t0: float
    sent: int = 0
    raw_chars: int = 0
    ttft: float | None = None
    usage: ProviderUsage | None = None
    finish: FinishReason | None = None
    # Ended (either way) with a verdict on the provider; False: the consumer went away.
    settled: bool = False


@dataclass(slots=True)
class RouteRun:
    """One routed request: its plan, the reply so far and every attempt's account."""

    request: ChatRequest
    plan: Plan
    started: float
    total_deadline: float
    reply: ReplyBuffer
    user: str | None
    attempts: list[Attempt] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    ttft: float | None = None

    def add(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        self.usage += attempt.usage
        self.cost_usd += attempt.cost_usd

    def deliver(self, out: SeamOutput, cand: Candidate, state: AttemptState) -> list[StreamEvent]:
        """The events for what the seam released: a reset first if it withdrew the text."""
        events: list[StreamEvent] = []
        if out.reset:
            self.reply.clear()
            events.append(TextReset(cand.provider, cand.model))
            logger.warning(
                "ai continuation restarted the answer; earlier text withdrawn: "
                "provider=%s model=%s",
                cand.provider,
                cand.model,
            )
        if out.text:
            delta = self.deliver_text(out.text, cand, state)
            if delta is not None:
                events.append(delta)
        return events

    def deliver_text(self, text: str, cand: Candidate, state: AttemptState) -> TextDelta | None:
        """The delta for `text` (as much of it as the length cap lets through), or None.
        Called per chunk, so it builds nothing else (issue 20)."""
        reply = self.reply
        if not text:
            return None
        if reply.chars + len(text) > reply.limit:
            text = reply.take(text)
            if not text:
                return None
        else:
            reply.parts.append(text)
            reply.chars += len(text)
        if self.ttft is None:
            self.ttft = time.perf_counter() - self.started
        state.sent += 1
        return text_delta(text, cand.provider, cand.model)

    def result(self, cand: Candidate, finish: FinishReason) -> ChatResult:
        return ChatResult(
            text=self.reply.text,
            usage=self.usage,
            cost_usd=self.cost_usd,
            provider=cand.provider,
            model=cand.model,
            finish_reason=finish,
            plan_reason=self.plan.reason,
            ttft_s=self.ttft,
            total_s=time.perf_counter() - self.started,
            attempts=tuple(self.attempts),
        )
