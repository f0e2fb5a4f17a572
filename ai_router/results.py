"""What a routed request produced: text, usage, cost, timings and every attempt made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FinishReason = Literal["stop", "length", "content_filter", "other"]
AttemptOutcome = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts; `estimated` is True when any part was counted by us, not the provider."""

    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            estimated=self.estimated or other.estimated,
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one provider/model (retries are separate attempts).

    `tokens_delivered` counts the text deltas from this attempt that reached the consumer.
    """

    provider: str
    model: str
    outcome: AttemptOutcome
    error_code: str | None
    duration_s: float
    tokens_delivered: int
    usage: Usage
    cost_usd: float


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The final account of a request; `usage` and `cost_usd` sum every attempt."""

    text: str
    usage: Usage
    cost_usd: float
    provider: str
    model: str
    finish_reason: FinishReason
    plan_reason: str
    ttft_s: float | None
    total_s: float
    attempts: tuple[Attempt, ...]
