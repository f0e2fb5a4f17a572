"""Liveness and readiness checks of each dependency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from server.state import AppState

_CHECK_TIMEOUT_S = 2.0


async def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check, timeout=_CHECK_TIMEOUT_S)
    except Exception as exc:
        # The exception's type names the failure without echoing URLs or credentials.
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def embedded_database_down(*, state: AppState) -> dict[str, Any] | None:
    """The embedded database's state when its supervisor gave up restarting it, else None.
    An external MongoDB being down never fails liveness: restarting us would not fix it."""
    if state.embedded is None or state.embedded.live:
        return None
    return state.embedded.describe()


async def readiness(*, state: AppState) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {"mongodb": await _timed(state.mongo.admin.command("ping"))}
    if state.embedded is not None:
        # running, restarting (the supervisor is on it) or failed (/healthz fails too)
        checks["mongodb"]["embedded"] = state.embedded.describe()
    if state.redis is not None:
        checks["redis"] = await _timed(state.redis.ping())
    ready = all(c["ok"] for c in checks.values())
    # AI providers are reported, not required: the router falls back, and `offline` never fails.
    checks["ai_providers"] = {
        name: dict(snapshot) for name, snapshot in state.ai_router.health().items()
    }
    return ready, checks
