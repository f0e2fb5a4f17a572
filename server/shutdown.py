"""When this process began to shut down, so that every part drains within one grace period.

`python -m server` marks the moment uvicorn starts its graceful shutdown (SIGTERM, Ctrl-C).
uvicorn then waits for the requests it serves (streamed replies over SSE included) for at most
`SHUTDOWN_GRACE_SECONDS`; replies it does not know of (those started over Socket.IO run in
tasks of the chat service) get what is left of the same grace from the lifespan's shutdown,
counted from the same moment. An app closed any other way (tests, scripts) was never marked:
it has no grace and stops its work at once, as before.
"""

from __future__ import annotations

import time

_began: float | None = None


def begin() -> None:
    """Marks the start of the graceful shutdown (the first call counts)."""
    global _began
    if _began is None:
        _began = time.monotonic()


def remaining(grace_s: float) -> float:
    """Seconds left of `grace_s` since `begin()`; 0 when shutdown was never begun."""
    if _began is None:
        return 0.0
    return max(0.0, grace_s - (time.monotonic() - _began))
