"""One small error hierarchy; the server maps `RouterError.code` to its own error shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ai_router.results import Attempt


class RouterError(Exception):
    """Base error of the router: a stable machine `code` plus a human message (no secrets)."""

    code: str = "ai_router_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class AIUnavailable(RouterError):
    """Every candidate of the plan failed (or none was allowed); `attempts` says what happened."""

    code = "ai_unavailable"

    def __init__(self, message: str, *, attempts: Sequence[Attempt] = ()) -> None:
        super().__init__(message)
        self.attempts: tuple[Attempt, ...] = tuple(attempts)

    def __str__(self) -> str:
        if not self.attempts:
            return self.message
        tried = ", ".join(
            f"{a.provider}/{a.model}: {a.error_code or a.outcome}" for a in self.attempts
        )
        return f"{self.message} (attempts: {tried})"


class BudgetExceeded(RouterError):
    """Raised before any provider is called when the learner has no budget left."""

    code = "ai_budget_exceeded"


class ProviderError(RouterError):
    """A normalised failure of one provider call, built by the provider adapters.

    `retryable` says whether the same provider may be asked again (before the first token);
    `retry_after` is the server's Retry-After in seconds when it sent one.
    """

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        code: str,
        provider: str,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.provider = provider
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
