"""The practice feature's errors, in the contract's shape."""

from __future__ import annotations

from server.errors import Conflict, NotFound, ValidationFailed


def test_not_found() -> NotFound:
    return NotFound("Test not found.", code="test_not_found")


def question_not_in_test() -> NotFound:
    return NotFound("This question is not part of the test.", code="question_not_in_test")


def test_ended() -> Conflict:
    return Conflict("The test has ended: answers can no longer change.", code="test_ended")


def assignment_not_found() -> NotFound:
    return NotFound("Assignment not found.", code="assignment_not_found")


def no_question() -> NotFound:
    return NotFound("No question is available for this test.", code="no_question_available")


def invalid_field(field: str, message: str, *, code: str) -> ValidationFailed:
    """A 422 in the shape request validation uses (`details.fields`)."""
    return ValidationFailed(
        message, code=code, details={"fields": [{"field": field, "message": message, "type": code}]}
    )
