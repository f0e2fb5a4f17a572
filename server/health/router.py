from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from server.deps import State
from server.errors import ServiceUnavailable
from server.health import service
from server.schemas import error_responses

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses=error_responses(
        {503: "The process cannot serve: the embedded database died and could not be restarted."}
    ),
)
async def healthz(state: State) -> dict[str, str]:
    """Liveness: fails only for what restarting this process would fix, so an orchestrator
    does not restart every instance because a shared MongoDB or Redis is down."""
    embedded = service.embedded_database_down(state=state)
    if embedded is not None:
        raise ServiceUnavailable(
            "The embedded database is down and could not be restarted.",
            code="dependency_unavailable",
            details={"failing": ["mongodb"], "embedded": embedded},
        )
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses=error_responses(
        {503: "`details.checks` has each dependency's state, `details.failing` the ones down."}
    ),
)
async def readyz(state: State) -> dict[str, Any]:
    ready, checks = await service.readiness(state=state)
    if not ready:
        failing = sorted(
            name for name, check in checks.items() if name != "ai_providers" and not check["ok"]
        )
        raise ServiceUnavailable(
            f"Not ready: {', '.join(failing)} unavailable.",
            code="dependency_unavailable",
            details={"checks": checks, "failing": failing},
        )
    return {"status": "ready", "checks": checks}
