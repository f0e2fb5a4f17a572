"""What every provider adapter implements, and the shared error normalisation."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx2
import pydantic

from ai_router.config import TimeoutConfig
from ai_router.errors import ProviderError
from ai_router.request import ChatTurn, GroundingPassage, PracticeQuestion
from ai_router.results import FinishReason

CONTINUE_INSTRUCTION = (
    "Your previous reply was cut off. Continue it exactly from where it stops: do not repeat "
    "any of it, do not restart, do not add a preamble; start with the next characters."
)


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One call to one model; `partial` is already-delivered text to continue from."""

    model: str
    system_prompt: str
    history: tuple[ChatTurn, ...]
    message: str
    max_tokens: int
    temperature: float | None
    user_id: str | None
    partial: str | None = None
    weak_topics: tuple[str, ...] = ()
    # Vendors read the passages inside `system_prompt` (ChatRequest.full_system_prompt); the
    # offline mentor composes from these fields directly.
    passages: tuple[GroundingPassage, ...] = ()
    practice: tuple[PracticeQuestion, ...] = ()
    variant: int = 0


@dataclass(frozen=True, slots=True)
class ProviderUsage:
    input_tokens: int
    output_tokens: int
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class ProviderFinish:
    """The vendor's terminal event was seen; without it a stream is a failure."""

    reason: FinishReason


ProviderEvent = str | ProviderUsage | ProviderFinish


class Provider(Protocol):
    """A vendor adapter. `stream` yields text, usage and exactly one finish, or raises
    ProviderError; closing the iterator must close the upstream HTTP stream."""

    name: str

    def stream(self, call: ProviderCall) -> AsyncGenerator[ProviderEvent, None]: ...

    async def aclose(self) -> None: ...


def sdk_timeout(cfg: TimeoutConfig) -> httpx2.Timeout:
    """HTTP-level timeouts as a backstop; the router enforces first-token/idle/total itself."""
    read = max(cfg.first_token_s, cfg.idle_s) + 1.0
    return httpx2.Timeout(
        connect=cfg.connect_s, read=read, write=cfg.connect_s + 5.0, pool=cfg.connect_s
    )


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        when = parsedate_to_datetime(raw)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def from_status(provider: str, status: int, headers: Mapping[str, str] | None) -> ProviderError:
    """Map an HTTP status to a ProviderError; the vendor's body is never copied (may hold
    key fragments or learner text)."""
    if status == 429:
        return ProviderError(
            f"{provider} rate limited the request (HTTP 429)",
            code="rate_limited",
            provider=provider,
            retryable=True,
            status=status,
            retry_after=parse_retry_after(headers),
        )
    if status in (401, 403):
        return ProviderError(
            f"{provider} rejected the credentials (HTTP {status})",
            code="auth_failed",
            provider=provider,
            retryable=False,
            status=status,
        )
    if status == 408 or status >= 500:
        return ProviderError(
            f"{provider} failed with HTTP {status}",
            code="upstream_error",
            provider=provider,
            retryable=True,
            status=status,
            retry_after=parse_retry_after(headers),
        )
    return ProviderError(
        f"{provider} refused the request (HTTP {status})",
        code="bad_request",
        provider=provider,
        retryable=False,
        status=status,
    )


def normalise_exception(provider: str, exc: BaseException) -> ProviderError:
    """Best-effort mapping of SDK/transport exceptions; status errors carry `status_code`
    (openai, anthropic) or `code` (google-genai)."""
    if isinstance(exc, ProviderError):
        return exc
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        code = getattr(exc, "code", None)
        status = code if isinstance(code, int) and 100 <= code < 600 else None
    if status is not None and status < 400:
        # An error event inside an accepted (HTTP 200) stream.
        return ProviderError(
            f"{provider} sent an error event mid-stream",
            code="stream_error",
            provider=provider,
            retryable=True,
        )
    if status is not None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        return from_status(provider, status, headers)
    name = type(exc).__name__
    if isinstance(exc, (httpx2.TimeoutException, TimeoutError)) or ("Timeout" in name):
        return ProviderError(
            f"{provider} timed out", code="timeout", provider=provider, retryable=True
        )
    if isinstance(exc, (httpx2.TransportError, OSError)) or ("Connection" in name):
        return ProviderError(
            f"{provider} connection failed",
            code="connection_error",
            provider=provider,
            retryable=True,
        )
    if isinstance(
        exc,
        (
            json.JSONDecodeError,
            pydantic.ValidationError,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
        ),
    ):
        return ProviderError(
            f"{provider} sent a malformed stream chunk",
            code="malformed_response",
            provider=provider,
            retryable=False,
        )
    if name == "APIError":
        return ProviderError(
            f"{provider} sent an error event mid-stream",
            code="stream_error",
            provider=provider,
            retryable=True,
        )
    return ProviderError(
        f"{provider} failed ({name})", code="provider_error", provider=provider, retryable=False
    )


def incomplete(provider: str) -> ProviderError:
    """A stream that ended without the vendor's terminal event (cut connection)."""
    return ProviderError(
        f"{provider} stream ended without its terminal event",
        code="stream_incomplete",
        provider=provider,
        retryable=True,
    )
