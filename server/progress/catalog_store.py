"""The `achievements` collection: the catalog as stored, seeded from the packaged file."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from models import Achievement
from models.common import utcnow
from server.progress.catalog import AchievementSpec, Catalog
from server.seeding import SyncResult

log = logging.getLogger("starguide.progress")


async def sync_catalog(catalog: Catalog) -> tuple[Catalog, SyncResult]:
    """Upserts the catalog (idempotent: a second run changes nothing), then reads the stored
    catalog back, so entries added to the collection by a later seed count. Returns the
    stored catalog and what the upsert created and changed (`scripts/seed.py` reports it)."""
    total, created, updated = len(catalog), 0, 0
    if total:
        operations = [
            UpdateOne(
                {"code": spec.code},
                {
                    "$set": {**spec.model_dump(mode="json"), "position": position},
                    "$setOnInsert": {"created_at": utcnow()},
                },
                upsert=True,
            )
            for position, spec in enumerate(catalog)
        ]
        collection = Achievement.get_pymongo_collection()
        try:
            result = await collection.bulk_write(operations, ordered=False)
            created, updated = result.upserted_count, result.modified_count
        except BulkWriteError as exc:  # two instances starting together
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            retried = await collection.bulk_write([operations[e["index"]] for e in errors])
            created = int(exc.details.get("nUpserted", 0))
            updated = int(exc.details.get("nModified", 0)) + retried.modified_count
    specs: list[AchievementSpec] = []
    cursor = Achievement.get_pymongo_collection().find({}, sort=[("position", 1), ("code", 1)])
    async for raw in cursor:
        try:
            specs.append(AchievementSpec.model_validate(raw))
        except ValidationError:
            # E.g. a metric that only a newer version evaluates (a rolling deploy).
            log.warning(
                "skipping an achievement this version cannot evaluate",
                extra={"code": raw.get("code")},
            )
    unchanged = total - created - updated
    return Catalog(specs), SyncResult(created=created, updated=updated, unchanged=unchanged)
