"""The weekly leaderboards (Redis) in erasure (docs/PRIVACY.md). Nothing to export: a board
entry is the XP total the export already holds."""

from __future__ import annotations

from typing import Final

from beanie import PydanticObjectId

from models.common import utcnow
from server.chat.limits import local_day
from server.privacy.registry import ErasureContext, Fact, PrivacyRegistry
from server.progress import privacy as progress_privacy
from server.progress.weeks import iso_week

# Every (organization, week) board the user can be on.
BOARDS: Final = Fact[set[tuple[PydanticObjectId, str]]]("leaderboard.boards")


async def _collect_boards(ctx: ErasureContext) -> None:
    """Read while the ledger still exists: the weeks the user earned XP in, and this week."""
    user = ctx.user
    boards = await progress_privacy.xp_weeks(user_id=ctx.user_id, org_id=user.org_id)
    boards.add((user.org_id, iso_week(local_day(user, utcnow()))))
    ctx.facts.put(BOARDS, boards)


async def _forget(ctx: ErasureContext) -> None:
    """After the ledger is gone (so a board marked `:built` still equals it); again after
    the account is gone, for a late progress update (not counted twice in the report)."""
    boards = await ctx.facts.get(BOARDS)
    removed = await ctx.state.leaderboards.forget_user(user_id=ctx.user_id, boards=boards)
    if not ctx.again:
        ctx.report.add("redis", "leaderboard_entries", removed)


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.register_erase("leaderboard.boards", _collect_boards, phase="collect")
    registry.register_erase("leaderboard.forget", _forget, phase="redis", again=True)
