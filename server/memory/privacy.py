"""The learner memory's part of export and erasure (docs/PRIVACY.md)."""

from __future__ import annotations

from typing import Any

from beanie.odm.enums import SortDirection

from models import LearnerTopic
from models.common import utcnow
from server.memory import service as memory
from server.privacy.registry import (
    ErasureContext,
    ExportContext,
    PrivacyRegistry,
    collection_name,
    dump,
)


async def _export(ctx: ExportContext) -> dict[str, Any]:
    now = utcnow()
    topics = []
    async for doc in LearnerTopic.find({"user_id": ctx.user_id}).sort(
        [("weight", SortDirection.DESCENDING)]
    ):
        view = dump(doc, exclude=frozenset({"id", "user_id"}))
        view["score"] = round(memory.to_score(doc.weight, now), 3)
        topics.append(view)
    return {"topics": topics}


async def _delete(ctx: ErasureContext) -> None:
    result = await LearnerTopic.get_pymongo_collection().delete_many({"user_id": ctx.user_id})
    ctx.report.add("deleted", collection_name(LearnerTopic), result.deleted_count)


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.register_export("memory", _export, collections=(LearnerTopic,))
    # Again after the account is gone: a reply's memory update can land late.
    registry.register_erase(
        "memory.delete", _delete, phase="per_user", collections=(LearnerTopic,), again=True
    )
