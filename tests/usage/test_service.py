"""The `usage` feature: the per-learner daily AI counters the budget reads and admins sum."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from beanie import PydanticObjectId

from ai_router.results import Attempt, AttemptOutcome, Usage
from models.common import utcnow
from server.usage import service as usage

DAY = date(2026, 3, 14)


def attempt(
    provider: str, cost: float, *, tokens: int = 10, outcome: AttemptOutcome = "ok"
) -> Attempt:
    return Attempt(
        provider=provider,
        model="m",
        outcome=outcome,
        error_code=None,
        duration_s=0.1,
        tokens_delivered=tokens,
        usage=Usage(input_tokens=tokens, output_tokens=tokens),
        cost_usd=cost,
    )


async def test_concurrent_replies_add_up_and_bad_usage_never_refunds(app: Any) -> None:
    user, org = PydanticObjectId(), PydanticObjectId()
    replies = [
        (attempt("openai", 0.01, outcome="failed"), attempt("anthropic", 0.02)),
        (attempt("openai", -5.0, tokens=-3),),  # a provider's bad usage counts as nothing
        (attempt("gemini", 9.0, outcome="skipped"),),  # never called: not billed
    ] * 5
    await asyncio.gather(
        *(
            usage.record_attempts(user_id=user, org_id=org, day=DAY, attempts=r, at=utcnow())
            for r in replies
        )
    )
    assert await usage.spent_usd(user_id=user, day=DAY) == pytest.approx(0.15)
    assert await usage.spent_usd(user_id=user, day=date(2026, 3, 15)) == 0.0
    [day] = await usage.days_of_user(user_id=user)
    assert day.requests == 15 and day.org_id == org
    assert set(day.providers) == {"openai", "anthropic"}
    assert day.providers["openai"].requests == 10
    assert day.providers["openai"].input_tokens == 50  # the negative counts were clamped to 0


async def test_sums_by_day_and_provider_keep_to_the_range_and_organization(app: Any) -> None:
    org, other = PydanticObjectId(), PydanticObjectId()
    first, gap, last = date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)
    for owner, day, cost in ((org, first, 0.5), (org, last, 0.25), (other, first, 1.0)):
        await usage.record_attempts(
            user_id=PydanticObjectId(),
            org_id=owner,
            day=day,
            attempts=(attempt("openai", cost),),
            at=utcnow(),
        )
    rows = await usage.sums_by_day_and_provider(org_id=org, start=first, end=gap)
    assert [(r["_id"]["day"], r["_id"]["provider"], r["cost_usd"]) for r in rows] == [
        ("2027-01-01", "openai", 0.5)
    ]
    every = await usage.sums_by_day_and_provider(org_id=None, start=first, end=last)
    assert [(r["_id"]["day"], r["cost_usd"]) for r in every] == [
        ("2027-01-01", 1.5),
        ("2027-01-03", 0.25),
    ]


async def test_erasure_detaches_the_counters_from_the_person(app: Any) -> None:
    user, org = PydanticObjectId(), PydanticObjectId()
    await usage.record_attempts(
        user_id=user, org_id=org, day=DAY, attempts=(attempt("openai", 0.3),), at=utcnow()
    )
    assert await usage.detach_user(user_id=user) == 1
    assert await usage.days_of_user(user_id=user) == []
    rows = await usage.sums_by_day_and_provider(org_id=org, start=DAY, end=DAY)
    assert rows[0]["cost_usd"] == 0.3  # the organization's report still counts it
