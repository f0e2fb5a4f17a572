"""AI usage counters in export and erasure (docs/PRIVACY.md): exported, then pseudonymised."""

from __future__ import annotations

from typing import Any

from models import AiUsageDay
from server.privacy.registry import (
    ErasureContext,
    ExportContext,
    PrivacyRegistry,
    collection_name,
    dump,
)
from server.usage import service as usage_service


async def _export(ctx: ExportContext) -> list[dict[str, Any]]:
    days = await usage_service.days_of_user(user_id=ctx.user_id)
    return [dump(d, exclude=frozenset({"id", "user_id"})) for d in days]


async def _pseudonymise(ctx: ErasureContext) -> None:
    """Spend stays, re-keyed to a random id stored nowhere else: organizations' cost reports
    stay true, and nothing links the rows back to the person."""
    rekeyed = await usage_service.detach_user(user_id=ctx.user_id)
    ctx.report.add("updated", collection_name(AiUsageDay), rekeyed)


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.register_export("ai_usage", _export, collections=(AiUsageDay,))
    # Again after the account is gone: a reply's usage can be recorded late.
    registry.register_erase(
        "usage.pseudonymise",
        _pseudonymise,
        phase="pseudonymise",
        collections=(AiUsageDay,),
        again=True,
    )
