"""Per-provider circuit breaker and latency EWMA, readable for /readyz and metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypedDict

from ai_router.config import BreakerConfig

BreakerState = Literal["closed", "open", "half_open"]


class HealthSnapshot(TypedDict):
    state: BreakerState
    consecutive_failures: int
    latency_ewma_s: float | None
    disabled_reason: str | None


class ProviderHealth:
    """Opens after N consecutive failures; after the cooldown one probe is let through.

    A success closes it; a failed probe opens it again. `force_open` (401) uses a longer
    cooldown. No locks needed: everything runs on one event loop.
    """

    def __init__(
        self, *, config: BreakerConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._cfg = config
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._cooldown = config.cooldown_s
        self._probe_in_flight = False
        self._reason: str | None = None
        self.latency_ewma_s: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._cooldown:
            return "half_open"
        return "open"

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def try_acquire(self) -> bool:
        """May a call go out now? In half-open state only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._probe_in_flight:
            return False
        self._probe_in_flight = True
        return True

    def release(self) -> None:
        """The call ended without a verdict (e.g. the consumer cancelled)."""
        self._probe_in_flight = False

    def record_success(self, *, ttft_s: float | None) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_in_flight = False
        self._reason = None
        self._cooldown = self._cfg.cooldown_s
        if ttft_s is not None:
            self.observe_latency(ttft_s)

    def record_failure(self, *, code: str) -> None:
        self._failures += 1
        was_probe = self._probe_in_flight
        self._probe_in_flight = False
        if was_probe or self._failures >= self._cfg.failure_threshold:
            self._opened_at = self._clock()
            self._cooldown = self._cfg.cooldown_s
            self._reason = code

    def force_open(self, *, reason: str) -> None:
        """Take the provider out (bad credentials) for the longer auth cooldown."""
        self._failures += 1
        self._probe_in_flight = False
        self._opened_at = self._clock()
        self._cooldown = self._cfg.auth_cooldown_s
        self._reason = reason

    def observe_latency(self, seconds: float) -> None:
        alpha = self._cfg.latency_alpha
        prev = self.latency_ewma_s
        self.latency_ewma_s = seconds if prev is None else alpha * seconds + (1 - alpha) * prev

    def snapshot(self) -> HealthSnapshot:
        state = self.state
        return HealthSnapshot(
            state=state,
            consecutive_failures=self._failures,
            latency_ewma_s=self.latency_ewma_s,
            disabled_reason=self._reason if state != "closed" else None,
        )
