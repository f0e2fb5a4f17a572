"""GET /leaderboard; thin, the rules are in the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.deps import CurrentUser, State
from server.leaderboard.schemas import IsoWeek, LeaderboardPublic, Period, Scope
from server.leaderboard.service import leaderboard_for
from server.schemas import error_responses

router = APIRouter(tags=["progress"])


@router.get(
    "/leaderboard",
    summary="The weekly league of the caller's organization or of one of their study groups",
    response_model=LeaderboardPublic,
    responses=error_responses(
        {
            404: "`group_not_found`: `group_id` names no group the caller can see.",
            422: "Also when `scope=group` comes without `group_id`, or `week` is no ISO week "
            "of its year (`2024-W99`).",
        }
    ),
)
async def get_leaderboard(
    user: CurrentUser,
    state: State,
    scope: Scope = "org",
    period: Period = "week",
    group_id: Annotated[str | None, Query(description="Required when scope is group.")] = None,
    week: Annotated[
        IsoWeek | None,
        Query(description="An ISO week (`2026-W47`); default: the current one."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> LeaderboardPublic:
    return await leaderboard_for(
        state.leaderboards,
        user=user,
        scope=scope,
        period=period,
        group_id=group_id,
        week=week,
        limit=limit,
    )
