"""The `ai_usage_days` collection's one owner: per-learner daily AI counters.

The chat's daily budget (`server.chat.limits`) reads and `$inc`s them, the admin usage report
sums them and erasure re-keys them, all through this module: the budget and the report read
the same counters, so they can never disagree. Days are the learner's local calendar days.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final

from beanie import PydanticObjectId
from pymongo import UpdateOne

from ai_router.results import Attempt
from models import AiUsageDay
from server.mongo import GroupCommit

# After-reply writes: nobody waits on them but the reply's own task, so they linger a
# little for the other replies' (one command for many under load).
_day_writes = GroupCommit(
    AiUsageDay.get_pymongo_collection, retry_duplicate_upserts=True, linger_s=0.1
)

SUMS: Final = ("requests", "input_tokens", "output_tokens", "cost_usd")


async def spent_usd(*, user_id: PydanticObjectId, day: date) -> float:
    """What the learner's AI use cost on `day` (their local day); served by `user_day`."""
    found = await AiUsageDay.get_pymongo_collection().find_one(
        {"user_id": user_id, "day": day.isoformat()}, projection={"cost_usd": 1}
    )
    return float(found.get("cost_usd", 0.0)) if found else 0.0


async def record_attempts(
    *,
    user_id: PydanticObjectId,
    org_id: PydanticObjectId,
    day: date,
    attempts: Sequence[Attempt],
    at: datetime,
) -> None:
    """Adds every attempt's tokens and cost, failed ones included: they were billed too.
    One atomic upsert on the unique (user_id, day) key, so concurrent replies never lose
    an increment."""
    if not attempts:
        return
    inc: dict[str, Any] = {"requests": 1}
    for a in attempts:
        if a.outcome == "skipped":
            continue
        # Never a negative amount: a provider's bad usage must not refund the budget.
        for key, value in (
            ("input_tokens", max(0, a.usage.input_tokens)),
            ("output_tokens", max(0, a.usage.output_tokens)),
            ("cost_usd", max(0.0, a.cost_usd)),
        ):
            inc[key] = inc.get(key, 0) + value
            name = f"providers.{a.provider}.{key}"
            inc[name] = inc.get(name, 0) + value
        name = f"providers.{a.provider}.requests"
        inc[name] = inc.get(name, 0) + 1
    # Sent with the other replies' counters of the moment, in one command (`GroupCommit`).
    operation = UpdateOne(
        {"user_id": user_id, "day": day.isoformat()},
        {"$inc": inc, "$set": {"updated_at": at}, "$setOnInsert": {"org_id": org_id}},
        upsert=True,
    )
    (code,) = await _day_writes.submit([operation])
    if code is not None:
        raise RuntimeError(f"the usage counter upsert failed with code {code}")


async def sums_by_day_and_provider(
    *, org_id: PydanticObjectId | None, start: date, end: date
) -> list[dict[str, Any]]:
    """Per (day, provider) sums of `SUMS` for days `start`..`end` inclusive, summed by MongoDB,
    sorted by day then provider: `{"_id": {"day", "provider"}, "requests": ..., ...}`."""
    match: dict[str, Any] = {"day": {"$gte": start.isoformat(), "$lte": end.isoformat()}}
    if org_id is not None:
        match["org_id"] = org_id  # served by the (org_id, day) index; without it, by `day`
    pipeline: list[dict[str, Any]] = [
        {"$match": match},
        {"$project": {"day": 1, "provider": {"$objectToArray": "$providers"}}},
        {"$unwind": "$provider"},
        {
            "$group": {
                "_id": {"day": "$day", "provider": "$provider.k"},
                **{name: {"$sum": f"$provider.v.{name}"} for name in SUMS},
            }
        },
        {"$sort": {"_id.day": 1, "_id.provider": 1}},
    ]
    rows: list[dict[str, Any]] = await (
        await AiUsageDay.get_pymongo_collection().aggregate(pipeline)
    ).to_list()
    return rows


async def days_of_user(*, user_id: PydanticObjectId) -> list[AiUsageDay]:
    """Every daily counter of one learner, oldest day first (a data export)."""
    return await AiUsageDay.find({"user_id": user_id}).sort("day").to_list()


async def detach_user(*, user_id: PydanticObjectId) -> int:
    """Erasure: re-keys the learner's counters to a random id stored nowhere else, so the
    organizations' cost reports stay true and nothing links the rows back to the person.
    Returns how many were re-keyed."""
    result = await AiUsageDay.get_pymongo_collection().update_many(
        {"user_id": user_id}, {"$set": {"user_id": PydanticObjectId()}}
    )
    return result.modified_count
