"""One error hierarchy, rendered in the contract's shape by the handlers in `server.app`.

Sockets reuse the same classes: `AppError.to_ack()` is the `{ok: false, error}` acknowledgement.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from limits import errors as limits_errors
from pymongo import errors as mongo_errors
from redis import exceptions as redis_errors


class AppError(Exception):
    status: int = 400
    code: str = "bad_request"
    message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        self.code = code or type(self).code
        self.status = status or type(self).status
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def to_ack(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"ok": False, "error": error}


def field_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's errors as `details.fields`: where, what, and the error type."""
    fields = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        fields.append({"field": ".".join(loc), "message": err.get("msg"), "type": err.get("type")})
    return fields


class ValidationFailed(AppError):
    status = 422
    code = "validation_error"
    message = "The request is invalid."


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    message = "Authentication is required."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(AppError):
    status = 404
    code = "not_found"
    message = "Not found."


class Conflict(AppError):
    status = 409
    code = "conflict"
    message = "This already exists."


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    message = "The request body is too large."


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    message = "Too many requests; try again later."

    def __init__(
        self, message: str | None = None, *, retry_after: int, code: str | None = None
    ) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(
            message,
            code=code,
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
    message = "A dependency is unavailable; try again later."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int = 5,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            message, code=code, details=details, headers={"Retry-After": str(retry_after)}
        )


# ---- dependencies down --------------------------------------------------------------------
# What a client should wait before retrying when MongoDB or Redis is down: about one restart
# of the embedded database or one replica-set election.
DEPENDENCY_RETRY_AFTER_SECONDS = 5

# MongoDB answers with these codes while it shuts down or while a replica set changes its
# primary: the database is going away, not refusing the request.
_MONGO_UNAVAILABLE_CODES = frozenset({91, 189, 10107, 11600, 11602, 13435, 13436})


class DependencyUnavailable(ServiceUnavailable):
    """MongoDB or Redis is down or too slow: 503 with `Retry-After`, never a 500.

    The message names what is down in plain words; the connection error itself (hosts,
    ports, URLs) stays in the server's log."""

    code = "dependency_unavailable"
    message = "A service StarGuide depends on is unavailable; try again shortly."

    def __init__(
        self, dependency: str, *, retry_after: int = DEPENDENCY_RETRY_AFTER_SECONDS
    ) -> None:
        self.dependency = dependency
        what = {"mongodb": "The database", "redis": "The cache"}.get(dependency, "A dependency")
        super().__init__(
            f"{what} is unavailable right now; try again in a few seconds.",
            retry_after=retry_after,
            details={"dependency": dependency, "retry_after": retry_after},
        )


def dependency_error(exc: BaseException) -> DependencyUnavailable | None:
    """The 503 for an exception that means MongoDB or Redis is unreachable, else None.

    The one place that knows the drivers' outage errors, shared by the REST handler, the
    middleware's last resort, SSE streams and socket acks. Follows explicit chains
    (`raise ... from`) and exception groups, since wrappers (`limits`, task groups) keep the
    driver's error there; never `__context__`, which an unrelated bug in an `except` block
    also has. An outage is logged here, at most once a minute per dependency (with how many
    answers it caused), so a busy server does not write a traceback per request.
    """
    error = _classify(exc)
    if error is not None:
        _report(error.dependency, exc)
    return error


def _classify(exc: BaseException) -> DependencyUnavailable | None:
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        dependency = _dependency_of(current)
        if dependency is not None:
            return DependencyUnavailable(dependency)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        if isinstance(current, limits_errors.StorageError):
            pending.append(current.storage_error)
        if current.__cause__ is not None:
            pending.append(current.__cause__)
    return None


def _dependency_of(exc: BaseException) -> str | None:
    if isinstance(
        exc,
        mongo_errors.ConnectionFailure | mongo_errors.ExecutionTimeout | mongo_errors.WTimeoutError,
    ):
        # ConnectionFailure covers AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError,
        # NotPrimaryError and WaitQueueTimeoutError (a pool exhausted while the server hangs).
        return "mongodb"
    if isinstance(exc, mongo_errors.OperationFailure) and exc.code in _MONGO_UNAVAILABLE_CODES:
        return "mongodb"
    if isinstance(
        exc,
        redis_errors.ConnectionError  # also BusyLoadingError, AuthenticationError
        | redis_errors.TimeoutError
        | redis_errors.ReadOnlyError  # a failover left us on a replica
        | redis_errors.ClusterDownError
        | redis_errors.TryAgainError,
    ):
        return "redis"
    return None


_OUTAGE_REPORT_SECONDS = 60.0
_outages: dict[str, tuple[float, int]] = {}  # dependency -> (last report, answers since)
_outage_log = logging.getLogger("starguide.outage")


def _report(dependency: str, exc: BaseException) -> None:
    now = time.monotonic()
    reported_at, since = _outages.get(dependency, (-_OUTAGE_REPORT_SECONDS, 0))
    if now - reported_at < _OUTAGE_REPORT_SECONDS:
        _outages[dependency] = (reported_at, since + 1)
        return
    _outages[dependency] = (now, 0)
    # The type names the failure; the message would carry hosts and ports.
    _outage_log.warning(
        "%s unavailable (%s): what needs it answers 503 dependency_unavailable",
        dependency,
        type(exc).__name__,
        extra={"dependency": dependency, "answers_since_last_report": since},
    )
