"""One error hierarchy, rendered in the contract's shape by the handlers in `server.app`.

Sockets reuse the same classes: `AppError.to_ack()` is the `{ok: false, error}` acknowledgement.
"""

from __future__ import annotations

from typing import Any


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
