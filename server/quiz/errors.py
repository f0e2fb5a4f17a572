"""The quiz feature's errors, in the contract's shape."""

from __future__ import annotations

from server.errors import NotFound, ValidationFailed


def question_not_found() -> NotFound:
    return NotFound("Question not found.", code="question_not_found")


def no_question(topic: str | None = None) -> NotFound:
    details = {"topic": topic} if topic else None
    return NotFound("No question is available yet.", code="no_question_available", details=details)


def invalid_field(field: str, message: str, *, code: str) -> ValidationFailed:
    """A 422 in the shape request validation uses (`details.fields`)."""
    return ValidationFailed(
        message,
        code=code,
        details={"fields": [{"field": field, "message": message, "type": code}]},
    )
