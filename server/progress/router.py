"""REST for achievements and their badges. Thin: the logic is the progress service's.
`GET /progress/me` spans features: it is the learner dashboard's (server/dashboards)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from server.deps import CurrentUser, State
from server.progress import badges
from server.progress.schemas import AchievementList
from server.schemas import error_responses

router = APIRouter(tags=["progress"])
# Outside /api/v1: the catalog's image paths are `/badges/...`, and `<img>` sends no token.
badges_router = APIRouter(tags=["progress"])


@router.get(
    "/achievements",
    summary="The achievements catalog, each with the caller's earned_at or null",
    response_model=AchievementList,
)
async def list_achievements(user: CurrentUser, state: State) -> AchievementList:
    return await state.progress.achievements_for(user=user)


@badges_router.get(
    "/badges/{filename}",
    summary="A badge's image (SVG), as linked by `image` in GET /achievements; no token needed",
    response_class=Response,
    responses={
        200: {"content": {badges.SVG_MEDIA_TYPE: {}}, "description": "The badge."},
        **error_responses({404: "`badge_not_found`."}),
    },
)
async def badge_image(filename: str, state: State) -> Response:
    return Response(
        badges.badge_svg(state.progress.catalog, filename),
        media_type=badges.SVG_MEDIA_TYPE,
        headers={"Cache-Control": badges.CACHE_CONTROL, **badges.SECURITY_HEADERS},
    )
