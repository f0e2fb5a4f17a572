"""Prometheus metrics: what the features record, read at `GET /metrics` (docs/OPERATIONS.md).

Recording is a call into this package from where a thing happens (the socket gateway, the job
queue) or a listener on the chat service's generations; nothing here imports a feature, so any
layer may call it. The instruments live in `instruments.py`, the HTTP middleware in `http.py`,
the scrape (rendering, access, scrape-time readings) in `exposition.py` and `router.py`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from server.metrics import instruments

__all__ = [
    "ChatMetrics",
    "job_attempt",
    "record_breakers",
    "record_jobs",
    "socket_closed",
    "socket_opened",
]

_BREAKER_LEVEL = {"closed": 0, "half_open": 1, "open": 2}
_NONE = "none"
# More replies in flight than this in one process means ends were lost: start afresh.
_MAX_IN_FLIGHT = 50_000


def socket_opened() -> None:
    """A socket was admitted (authenticated and given its slot)."""
    instruments.open_sockets.inc()


def socket_closed() -> None:
    """An admitted socket went away."""
    instruments.open_sockets.dec()


@contextmanager
def job_attempt(name: str) -> Iterator[None]:
    """Around one attempt of a background job: counts it by outcome (`complete`, `failed`,
    `interrupted`: stopped by its timeout or by a shutdown, which queues it again)."""
    outcome = "failed"
    try:
        yield
        outcome = "complete"
    except BaseException as exc:
        if not isinstance(exc, Exception):
            outcome = "interrupted"
        raise
    finally:
        instruments.job_attempts.labels(job=name, outcome=outcome).inc()


def record_jobs(counts: Mapping[str, int]) -> None:
    """The job queue's counts by state, read at scrape time."""
    for state, count in counts.items():
        instruments.jobs.labels(state=state).set(count)


def record_breakers(health: Mapping[str, Mapping[str, Any]]) -> None:
    """The AI router's `health()`: each provider's breaker state and failure count."""
    for provider, snapshot in health.items():
        instruments.breaker_state.labels(provider=provider).set(
            _BREAKER_LEVEL.get(str(snapshot.get("state")), 2)
        )
        instruments.breaker_failures.labels(provider=provider).set(
            int(snapshot.get("consecutive_failures") or 0)
        )


class _HasHealth(Protocol):
    def health(self) -> Mapping[str, Mapping[str, Any]]: ...


class ChatMetrics:
    """A listener on every generation's events (`ChatService.generations.add_listener`):
    replies by provider, model and status, time to the first token, tokens and cost, and the
    breakers after each reply (so every worker's view reaches a multiprocess scrape).

    It reads the events the chat path publishes anyway (`assistant:start`, the first
    `assistant:token`, `assistant:reset`, `assistant:end`/`assistant:error`); per token it
    costs one dict lookup. It never reads a message's text.
    """

    def __init__(self, router: _HasHealth | None = None) -> None:
        self._router = router
        # message id -> [started, provider, model, waiting for the first token]
        self._in_flight: dict[str, list[Any]] = {}

    def __call__(self, generation: Any, event: Any) -> None:
        """A `Generation` and one of its `ServerEvent`s (typed loosely: chat imports us)."""
        name = event.name
        if name == "assistant:token":
            entry = self._in_flight.get(generation.message_id)
            if entry is not None and entry[3]:
                entry[3] = False
                instruments.chat_ttft.labels(provider=entry[1]).observe(
                    time.perf_counter() - entry[0]
                )
        elif name == "assistant:start":
            if len(self._in_flight) >= _MAX_IN_FLIGHT:
                self._in_flight.clear()
            self._in_flight[generation.message_id] = [
                time.perf_counter(),
                getattr(event, "provider", None) or _NONE,
                getattr(event, "model", None) or _NONE,
                True,
            ]
        elif name == "assistant:reset":
            entry = self._in_flight.get(generation.message_id)
            if entry is not None:
                entry[1] = getattr(event, "provider", None) or entry[1]
                entry[2] = getattr(event, "model", None) or entry[2]
        elif name in ("assistant:end", "assistant:error"):
            self._ended(generation.message_id, event)

    def _ended(self, message_id: str, event: Any) -> None:
        entry = self._in_flight.pop(message_id, None)
        provider = getattr(event, "provider", None) or (entry[1] if entry else _NONE)
        model = getattr(event, "model", None) or (entry[2] if entry else _NONE)
        status = getattr(event, "status", None) or "failed"
        instruments.chat_replies.labels(provider=provider, model=model, status=status).inc()
        usage = getattr(event, "usage", None)
        if usage is not None:
            tokens = instruments.ai_tokens
            tokens.labels(provider=provider, model=model, direction="input").inc(
                max(0, usage.input_tokens)
            )
            tokens.labels(provider=provider, model=model, direction="output").inc(
                max(0, usage.output_tokens)
            )
            instruments.ai_cost.labels(provider=provider, model=model).inc(max(0.0, usage.cost_usd))
        if self._router is not None:
            record_breakers(self._router.health())
