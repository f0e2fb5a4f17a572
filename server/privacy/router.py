"""The learner's own data: export (GDPR art. 15 and 20) and erasure (art. 17)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse

from server.deps import CurrentUser, State
from server.privacy import service

router = APIRouter(prefix="/users", tags=["privacy"])


@router.get(
    "/me/export",
    summary="All of the caller's data as one JSON document (docs/PRIVACY.md)",
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def export_me(user: CurrentUser) -> JSONResponse:
    document = await service.export_user(user)
    filename = f"starguide-export-{user.id}.json"
    return JSONResponse(
        document,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase the caller's account and data; an audit entry without content remains",
)
async def delete_me(user: CurrentUser, state: State) -> Response:
    await service.erase_user(state, user=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
