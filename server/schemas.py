"""Building blocks shared by the feature schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")


class RequestModel(BaseModel):
    """Request bodies reject unknown fields, so server-owned ones (role, org_id) are a 422."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def _valid_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be an IANA time zone such as Asia/Kolkata") from exc
    return value


Timezone = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_valid_timezone)
]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Language = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$", max_length=35)
]


class ErrorBody(BaseModel):
    code: str = Field(
        description="Stable and machine-readable, e.g. `conversation_not_found`: "
        "branch on it, never on the message."
    )
    message: str = Field(description="For people; may change between releases.")
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="Code-specific facts, e.g. `fields` (validation) or `retry_after` (429).",
    )


class ErrorResponse(BaseModel):
    """The one shape of every REST error (CONTRACT: errors), 4xx and 5xx alike, so a client
    generated from the OpenAPI document has a single error type to handle."""

    error: ErrorBody


# What each status means across the API; `error_responses` appends a route's own codes.
ERROR_DESCRIPTIONS: dict[int | str, str] = {
    400: "The request cannot be processed.",
    401: "Not authenticated.",
    403: "The caller may not do this.",
    404: (
        "Not found: a malformed id, a missing object, or another user's or another "
        "organization's (never 403, so nothing can be probed)."
    ),
    409: "The request conflicts with the current state.",
    413: "The request body is larger than `MAX_BODY_BYTES`: `payload_too_large`.",
    415: "The body's media type is not accepted: `unsupported_media_type`.",
    422: (
        "The request is invalid: `validation_error` (`details.fields` names each field) or "
        "`invalid_json`."
    ),
    429: "Too many requests; `Retry-After` says when to try again.",
    500: (
        "A fault on our side: `internal_error`. `details.request_id` (also the `X-Request-ID` "
        "header) names it in our logs."
    ),
    # Every route taking a bearer token (server.openapi adds it to them).
    "bearer_401": (
        "A missing, malformed or expired access token, or one of a session that has ended: "
        "`missing_token`, `invalid_token`, `token_expired`, `session_revoked`."
    ),
    503: (
        "A dependency (MongoDB, Redis) is unavailable: `dependency_unavailable`. "
        "`Retry-After` says when to try again."
    ),
}

Responses = dict[int | str, dict[str, Any]]


def error_responses(*statuses: int | Mapping[int, str]) -> Responses:
    """OpenAPI `responses=` entries in the error shape, for a router or a route.

    `error_responses(403, {409: "`org_slug_taken`."})`: a plain status gets the API-wide
    description; a mapping appends what the route adds (its own codes) to it. Statuses every
    route shares by construction (401 with a bearer token, 404 with an id in the path, 413 and
    422 with input, 503) are added to the document by `server.openapi`; declare here only what
    a router or route adds, or a more precise description."""
    responses: Responses = {}
    for item in statuses:
        extra: Mapping[int, str] = item if isinstance(item, Mapping) else {item: ""}
        for status, text in extra.items():
            description = f"{ERROR_DESCRIPTIONS.get(status, '')} {text}".strip()
            responses[status] = {"model": ErrorResponse, "description": description}
    return responses


# A paged list: a cursor not handed out by a previous page is refused.
PAGED = error_responses({422: "`invalid_cursor`: `cursor` is not one a page handed out."})
