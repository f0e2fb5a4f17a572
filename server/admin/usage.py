"""The AI usage report: tokens and cost per provider per day, summed by MongoDB.

The sums come from the `usage` feature (`server.usage.service`), over the per-learner daily
counters the chat's daily budget reads too, so the report and the budget can never disagree.
Days are the learners' local calendar days. This module checks the window and shapes rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from server.admin.schemas import UsageReport, UsageRow
from server.errors import ValidationFailed
from server.usage import service as usage_service

MAX_DAYS = 366
DEFAULT_DAYS = 30
# Days are the learners' local days, and somewhere it is already tomorrow: the default window
# ends on the latest calendar day on Earth (UTC+14), so today's use of every learner is in it
# (ending on UTC's date left out India's use from 18:30 UTC, when IST's day has turned).
LATEST_UTC_OFFSET = timedelta(hours=14)
_SUMS = usage_service.SUMS


def window(
    from_day: date | None, to_day: date | None, *, now: datetime | None = None
) -> tuple[date, date]:
    """The report's days, `from_day`..`to_day` inclusive, defaults filled in and checked."""
    to_day = to_day or ((now or datetime.now(UTC)) + LATEST_UTC_OFFSET).date()
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
    start, end = window(from_day, to_day)
    rows = await usage_service.sums_by_day_and_provider(org_id=org_id, start=start, end=end)
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
