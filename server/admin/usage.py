"""The AI usage report: tokens and cost per provider per day, summed by MongoDB.

It reads `ai_usage_days`, the per-learner daily counters the chat service `$inc`s (the same
ones the daily budget reads), so the report and the budget can never disagree. Days are the
learners' local calendar days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from models import AiUsageDay
from server.admin.schemas import UsageReport, UsageRow
from server.errors import ValidationFailed

MAX_DAYS = 366
DEFAULT_DAYS = 30
_SUMS = ("requests", "input_tokens", "output_tokens", "cost_usd")


def _window(from_day: date | None, to_day: date | None) -> tuple[date, date]:
    to_day = to_day or datetime.now(UTC).date()
    from_day = from_day or to_day - timedelta(days=DEFAULT_DAYS - 1)
    if from_day > to_day:
        raise ValidationFailed("`from` must not be after `to`.", code="invalid_range")
    if (to_day - from_day).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            f"A report covers at most {MAX_DAYS} days.",
            code="invalid_range",
            details={"max_days": MAX_DAYS},
        )
    return from_day, to_day


def _row(raw: dict[str, Any], *, day: str | None) -> UsageRow:
    return UsageRow(
        day=day,
        provider=raw["_id"]["provider"],
        requests=int(raw["requests"]),
        input_tokens=int(raw["input_tokens"]),
        output_tokens=int(raw["output_tokens"]),
        cost_usd=round(float(raw["cost_usd"]), 6),
    )


async def report(
    *, org_id: PydanticObjectId | None, from_day: date | None, to_day: date | None
) -> UsageReport:
    start, end = _window(from_day, to_day)
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
                **{name: {"$sum": f"$provider.v.{name}"} for name in _SUMS},
            }
        },
        {"$sort": {"_id.day": 1, "_id.provider": 1}},
    ]
    rows = await (await AiUsageDay.get_pymongo_collection().aggregate(pipeline)).to_list()
    items = [_row(raw, day=raw["_id"]["day"]) for raw in rows]
    totals: dict[str, dict[str, Any]] = {}
    for raw in rows:  # at most days × providers rows: summing them here is trivial
        total = totals.setdefault(
            raw["_id"]["provider"], {"_id": {"provider": raw["_id"]["provider"]}}
        )
        for name in _SUMS:
            total[name] = total.get(name, 0) + raw[name]
    return UsageReport(
        from_day=start,
        to_day=end,
        org_id=str(org_id) if org_id else None,
        items=items,
        totals=[_row(totals[p], day=None) for p in sorted(totals)],
    )
