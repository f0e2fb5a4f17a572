"""Routes of the read models; thin, the assembly is in `learner` and `group`. Paths and
operation names are the ones these views had when progress and groups served them."""

from __future__ import annotations

from fastapi import APIRouter

from server.dashboards import group, learner
from server.dashboards.schemas import GroupProgress, ProgressPublic
from server.deps import CurrentUser, State
from server.schemas import error_responses

progress_router = APIRouter(tags=["progress"])
groups_router = APIRouter(prefix="/groups", tags=["study groups"])


@progress_router.get(
    "/progress/me",
    summary="The caller's XP, level, streak, daily goal and weak topics",
    response_model=ProgressPublic,
)
async def get_my_progress(user: CurrentUser, state: State) -> ProgressPublic:
    return await learner.progress_for(user=user, progress=state.progress)


@groups_router.get(
    "/{group_id}/progress",
    summary="Every member's progress (the group's mentors and the organization's admins)",
    responses=error_responses({404: "`group_not_found`."})
    | error_responses({403: "`forbidden`: only the group's mentors and admins."}),
)
async def get_group_progress(group_id: str, user: CurrentUser, state: State) -> GroupProgress:
    return await group.members_progress(user=user, group_id=group_id, progress=state.progress)
