"""Progress, badges and the XP ledger in export and erasure (docs/PRIVACY.md)."""

from __future__ import annotations

from typing import Any, Final

from beanie import PydanticObjectId

from models import Achievement, Progress, UserAchievement, XpEvent
from server.privacy.registry import (
    ErasureContext,
    ExportContext,
    PrivacyRegistry,
    collection_name,
    dump,
)

# How long an erasure lets this process's just-scheduled progress updates land first.
SETTLE_SECONDS: Final = 5.0


async def xp_weeks(
    *, user_id: PydanticObjectId, org_id: PydanticObjectId
) -> set[tuple[PydanticObjectId, str]]:
    """Every (organization, week) the user earned XP in: from the ledger, and from the weekly
    totals (a leaderboard entry can outlive a ledger deleted by an earlier, crashed erasure)."""
    rows = await XpEvent.get_pymongo_collection().aggregate(
        [
            {"$match": {"user_id": user_id}},
            {"$group": {"_id": {"org": "$org_id", "week": "$week"}}},
        ]
    )
    weeks = {(row["_id"]["org"], str(row["_id"]["week"])) async for row in rows}
    progress = await Progress.get_pymongo_collection().find_one(
        {"user_id": user_id}, {"xp_by_week": 1}
    )
    for week in (progress or {}).get("xp_by_week", {}):
        weeks.add((org_id, str(week)))
    return weeks


# ---- export -----------------------------------------------------------------------------------
async def _export_progress(ctx: ExportContext) -> dict[str, Any] | None:
    progress = await Progress.find_one({"user_id": ctx.user_id})
    return dump(progress, exclude=frozenset({"id", "user_id"})) if progress else None


async def _export_achievements(ctx: ExportContext) -> list[dict[str, Any]]:
    earned = [a async for a in UserAchievement.find({"user_id": ctx.user_id}).sort("earned_at")]
    catalog = {
        a.code: a async for a in Achievement.find({"code": {"$in": [e.code for e in earned]}})
    }
    views = []
    for item in earned:
        spec = catalog.get(item.code)
        views.append(
            {
                "code": item.code,
                "name": spec.name if spec else None,
                "description": spec.description if spec else None,
                "tier": spec.tier if spec else None,
                "earned_at": item.earned_at.isoformat(),
            }
        )
    return views


async def _export_ledger(ctx: ExportContext) -> list[dict[str, Any]]:
    return [
        dump(e, exclude=frozenset({"user_id"}))
        async for e in XpEvent.find({"user_id": ctx.user_id}).sort("created_at", "_id")
    ]


# ---- erasure ----------------------------------------------------------------------------------
async def _settle(ctx: ErasureContext) -> None:
    """This process's pending progress updates for anyone get a few seconds to land (nothing
    is cancelled), so that they do not write after the deletes."""
    await ctx.state.progress.settle(grace_s=SETTLE_SECONDS)


async def _delete(ctx: ErasureContext) -> None:
    for model in (Progress, XpEvent, UserAchievement):
        result = await model.get_pymongo_collection().delete_many({"user_id": ctx.user_id})
        ctx.report.add("deleted", collection_name(model), result.deleted_count)


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.register_export("progress", _export_progress, collections=(Progress,))
    registry.register_export(
        "achievements", _export_achievements, collections=(UserAchievement, Achievement)
    )
    registry.register_export("xp_events", _export_ledger, collections=(XpEvent,), after=("quiz",))
    registry.holds_no_personal_data(Achievement, why="the badge catalog, the same for everyone")
    registry.register_erase("progress.settle", _settle, phase="stop")
    registry.register_erase(
        "progress.delete",
        _delete,
        phase="per_user",
        collections=(Progress, XpEvent, UserAchievement),
        again=True,
    )
    registry.register_erase("progress.settle_late", _settle, phase="late")
