"""Per-learner chat limits: a send rate (`limits`) and a daily AI budget.

The budget's ledger is the `usage` feature's (`server.usage.service`), organizations are the
`orgs` feature's: this module decides, they store."""

from __future__ import annotations

import math
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from beanie import PydanticObjectId
from limits import parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter

from ai_router import ChatResult
from ai_router.results import Attempt
from models import Organization, User
from server.errors import RateLimited
from server.orgs import service as orgs_service
from server.usage import service as usage_service


class SendLimiter:
    """Moving-window send limits per learner; with Redis storage every instance shares them."""

    def __init__(self, *, storage: Storage, rate: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._items = parse_many(rate)

    async def hit(self, user_id: str) -> None:
        for item in self._items:
            if not await self._limiter.hit(item, "chat-send", user_id):
                stats = await self._limiter.get_window_stats(item, "chat-send", user_id)
                raise RateLimited(
                    f"Too many messages: the limit is {item}. Try again shortly.",
                    retry_after=math.ceil(stats.reset_time - time.time()),
                )

    async def clear(self, user_id: str) -> None:
        for item in self._items:
            await self._limiter.clear(item, "chat-send", user_id)


def local_day(user: User, at: datetime) -> date:
    try:
        zone = ZoneInfo(user.profile.timezone)
    except Exception:  # a zone removed from tzdata since it was stored
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).date()


def seconds_to_local_midnight(user: User, at: datetime) -> int:
    try:
        zone = ZoneInfo(user.profile.timezone)
    except Exception:
        zone = ZoneInfo("UTC")
    local = at.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
    return max(1, math.ceil((midnight - local).total_seconds()))


class OrgCache:
    """The learner's organization for each message, from the orgs feature's cache (kept
    current on every instance by invalidation: a change of allowed providers or budget
    applies to the next message)."""

    async def get(self, org_id: PydanticObjectId) -> Organization | None:
        return await orgs_service.cached_org(org_id=org_id)


class DailyBudget:
    """The learner's AI spend per local day; the organization's budget overrides the default."""

    def __init__(self, *, default_usd: float | None) -> None:
        self._default = default_usd

    def limit(self, org: Organization | None) -> float | None:
        if org is not None and org.daily_ai_budget_usd is not None:
            return org.daily_ai_budget_usd
        return self._default

    async def remaining(self, user: User, org: Organization | None, at: datetime) -> float | None:
        limit = self.limit(org)
        if limit is None:
            return None
        assert user.id is not None
        return limit - await usage_service.spent_usd(user_id=user.id, day=local_day(user, at))

    async def record(self, user: User, attempts: tuple[Attempt, ...], at: datetime) -> None:
        """Adds every attempt's tokens and cost, failed ones included: they were billed too."""
        assert user.id is not None
        await usage_service.record_attempts(
            user_id=user.id, org_id=user.org_id, day=local_day(user, at), attempts=attempts, at=at
        )

    async def record_result(self, user: User, result: ChatResult, at: datetime) -> None:
        await self.record(user, result.attempts, at)
