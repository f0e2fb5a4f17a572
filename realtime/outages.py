"""Background work of the gateway meeting an outage: reported once, not once per try."""

from __future__ import annotations

import logging

from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

_OUTAGES = (RedisConnectionError, RedisTimeoutError, ConnectionFailure, OSError)


class OutageLog:
    """Logs a failing background step once per outage (lost, then restored), not once per
    round: while Redis or MongoDB is away the heartbeat and the outboxes keep trying every
    second or so. Failures that are not outages (bugs) keep their traceback each time."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what
        self._lost = False

    def failed(self, exc: BaseException) -> None:
        if not _is_outage(exc):
            self._log.error("%s failed", self._what, exc_info=exc)
            return
        if not self._lost:
            self._lost = True
            # The type names the failure; the message would carry hosts and ports.
            self._log.warning("%s lost, retrying: %s", self._what, type(exc).__name__)

    def succeeded(self) -> None:
        if self._lost:
            self._lost = False
            self._log.warning("%s restored", self._what)


def _is_outage(exc: BaseException) -> bool:
    """Redis or MongoDB unreachable (also behind a wrapper's `raise ... from`)."""
    while exc is not None:
        if isinstance(exc, _OUTAGES):
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False
