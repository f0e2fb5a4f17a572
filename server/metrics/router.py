"""`GET /metrics` (outside /api/v1, not in the OpenAPI document): Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from server.deps import State
from server.errors import AppError
from server.metrics import exposition

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, state: State) -> Response:
    settings = state.settings
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    if not exposition.allowed(
        address=exposition.direct_peer(request.scope),
        authorization=request.headers.get("authorization"),
        allow=settings.metrics_allow,
        token=token,
    ):
        # The answer an unknown route gets: nothing tells a stranger that this one exists.
        raise AppError("No such route.", code="not_found", status=404)
    await exposition.take_readings(
        router=state.ai_router, jobs=state.jobs, timeout_s=settings.dependency_timeout_seconds
    )
    body, content_type = exposition.render()
    return Response(content=body, media_type=content_type)
