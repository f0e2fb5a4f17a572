from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from server.deps import State
from server.errors import ServiceUnavailable
from server.health import service

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
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
