"""Opaque keyset cursors: (sort time, _id) encoded so clients cannot build queries from them."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, TypeVar

from beanie import Document, SortDirection
from bson import ObjectId
from bson.errors import InvalidId

from server.errors import ValidationFailed


def encode_cursor(at: datetime, object_id: Any) -> str:
    raw = json.dumps({"t": at.isoformat(), "i": str(object_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, ObjectId]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        at = datetime.fromisoformat(data["t"])
        if at.tzinfo is None:
            raise ValueError("naive time")
        return at, ObjectId(data["i"])
    except (ValueError, KeyError, TypeError, InvalidId) as exc:
        raise ValidationFailed("The cursor is invalid.", code="invalid_cursor") from exc


def one_cursor(**given: str | None) -> str | None:
    """The one cursor among a route's aliases for it (`before` and the generic `cursor`): clients
    written for any `{items, next_cursor}` page pass `cursor`, so every page route must take it.
    Two different cursors would mean two different pages: 422 rather than a guess."""
    values = {value for value in given.values() if value}
    if len(values) > 1:
        raise ValidationFailed(
            f"Pass one cursor: {' or '.join(given)}, not both.",
            code="conflicting_cursors",
            details={"fields": sorted(name for name, value in given.items() if value)},
        )
    return values.pop() if values else None


def older_than(field: str, cursor: str) -> dict[str, Any]:
    """Filter for items strictly after the cursor in (field desc, _id desc) order."""
    at, object_id = decode_cursor(cursor)
    return {"$or": [{field: {"$lt": at}}, {field: at, "_id": {"$lt": object_id}}]}


D = TypeVar("D", bound=Document)


async def newest_first(
    document: type[D], query: dict[str, Any], field: str, *, limit: int, cursor: str | None
) -> tuple[list[D], str | None]:
    """One keyset page in (field desc, _id desc) order, served by an index on the same keys;
    `next_cursor` is None on the last page."""
    if cursor:
        after = older_than(field, cursor)
        # Both may be `$or`s: a dict merge would silently drop the caller's filter.
        query = {"$and": [query, after]} if "$or" in query else query | after
    docs = (
        await document.find(query)
        .sort([(field, SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)])
        .limit(limit + 1)
        .to_list()
    )
    if len(docs) <= limit:
        return docs, None
    docs = docs[:limit]
    return docs, encode_cursor(getattr(docs[-1], field), docs[-1].id)
