"""GET /leaderboard: the caller's league, their organization's or one of their study
groups', with display names. The boards themselves (Redis, rebuilt from progress' ledger) are
`server.leaderboard.boards`; this module adds what needs other features (groups, users), so
the boards, which the app state holds, import neither.
"""

from __future__ import annotations

from beanie import PydanticObjectId

from models import User
from models.common import utcnow
from server.chat.limits import local_day
from server.errors import ValidationFailed
from server.groups import service as groups
from server.leaderboard.boards import (
    BOARD_TTL_SECONDS,
    KEY_PREFIX,
    Board,
    Leaderboards,
    Standing,
    board_key,
)
from server.leaderboard.schemas import (
    EntryPublic,
    LeaderboardPublic,
    MyStanding,
    Period,
    Scope,
)
from server.progress.weeks import iso_week
from server.users import service as users_service

__all__ = [
    "BOARD_TTL_SECONDS",
    "KEY_PREFIX",
    "Board",
    "Leaderboards",
    "Standing",
    "board_key",
    "leaderboard_for",
]


async def leaderboard_for(
    boards: Leaderboards,
    *,
    user: User,
    scope: Scope,
    period: Period,
    group_id: str | None,
    week: str | None,
    limit: int,
) -> LeaderboardPublic:
    """The caller's league: their organization's, or a study group's they can see (else 404).
    The week defaults to the current ISO week of the caller's local calendar."""
    assert user.id is not None
    week = week or iso_week(local_day(user, utcnow()))
    if scope == "group":
        if not group_id:
            raise ValidationFailed(
                "group_id is required when scope is group.",
                details={"fields": [{"field": "group_id", "message": "required"}]},
            )
        group = await groups.get_visible(user=user, group_id=group_id)
        board = await boards.group_board(
            org_id=group.org_id,
            members=[m.user_id for m in group.members],
            week=week,
            me=user.id,
            limit=limit,
        )
    else:
        board = await boards.org_board(org_id=user.org_id, week=week, me=user.id, limit=limit)
    names = await users_service.display_names(
        user_ids=[PydanticObjectId(s.user_id) for s in board.items]
    )
    return LeaderboardPublic(
        scope=scope,
        period=period,
        week=board.week,
        group_id=group_id if scope == "group" else None,
        items=[
            EntryPublic(
                rank=s.rank,
                user_id=s.user_id,
                display_name=names.get(PydanticObjectId(s.user_id), ""),
                xp=s.xp,
            )
            for s in board.items
        ],
        me=MyStanding(rank=board.me.rank, xp=board.me.xp),
    )
