"""Ids from URLs and payloads."""

from __future__ import annotations

from collections.abc import Callable

from beanie import PydanticObjectId
from bson.errors import InvalidId

from server.errors import AppError


def object_id(raw: str, not_found: Callable[[], AppError]) -> PydanticObjectId:
    """The id `raw` names; a malformed one is the caller's not-found error, so a bad id and a
    missing object look the same to clients (nothing to probe)."""
    try:
        return PydanticObjectId(raw)
    except (InvalidId, TypeError, ValueError) as exc:
        raise not_found() from exc
