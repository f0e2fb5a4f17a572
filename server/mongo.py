"""Small MongoDB write helpers shared by the services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError


async def upsert(
    collection: AsyncCollection[Any], filter_: Mapping[str, Any], update: Mapping[str, Any]
) -> None:
    """An atomic upsert (`$inc`/`$set`/`$setOnInsert`) on a key with a unique index.

    Two first writers can both try to insert; the loser gets a duplicate key and retries,
    which then matches the winner's document: the standard race-free upsert.
    """
    try:
        await collection.update_one(filter_, update, upsert=True)
    except DuplicateKeyError:
        await collection.update_one(filter_, update, upsert=True)
