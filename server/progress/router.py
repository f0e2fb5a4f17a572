"""REST for progress and achievements. Thin: the logic is the progress service's."""

from __future__ import annotations

from fastapi import APIRouter

from server.deps import CurrentUser, State
from server.progress.schemas import AchievementList, ProgressPublic

router = APIRouter(tags=["progress"])


@router.get(
    "/progress/me",
    summary="The caller's XP, level, streak, daily goal and weak topics",
    response_model=ProgressPublic,
)
async def get_my_progress(user: CurrentUser, state: State) -> ProgressPublic:
    return await state.progress.progress_for(user=user)


@router.get(
    "/achievements",
    summary="The achievements catalog, each with the caller's earned_at or null",
    response_model=AchievementList,
)
async def list_achievements(user: CurrentUser, state: State) -> AchievementList:
    return await state.progress.achievements_for(user=user)
