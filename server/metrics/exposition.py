"""The scrape: who may read `/metrics`, the readings taken at scrape time, the text itself.

Access (docs/OPERATIONS.md): a direct caller (no `X-Forwarded-For`) whose address is within
`METRICS_ALLOW`, or `Authorization: Bearer <METRICS_TOKEN>` compared in constant time. Anyone
else gets the 404 an unknown route gets, so the endpoint does not even show that it exists.

Why a forwarded request never passes on its address: the left-most hops of `X-Forwarded-For` are
whatever the client wrote, and with `FORWARDED_ALLOW_IPS=*` (or a proxy that passes the header on
unchanged) the address believed for rate limits would be the client's own claim, so
`X-Forwarded-For: 127.0.0.1` would read the metrics. Prometheus scrapes pods directly; a scrape
through a proxy uses the token.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from server.auth.clients import TrustedProxies
from server.metrics import record_breakers, record_jobs

log = logging.getLogger("starguide.metrics")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> TrustedProxies:
    # TrustedProxies is "addresses, networks or *": exactly what METRICS_ALLOW lists too.
    return TrustedProxies(entries)


_NO_PROXIES = TrustedProxies(())


def direct_peer(scope: Mapping[str, Any]) -> str | None:
    """The TCP peer of a request that came straight to us, or None for one that names a
    forwarded client (uvicorn's proxy headers rewrite `scope["client"]` only when the header is
    there, so without it the scope's client is the socket's peer)."""
    if any(name.lower() == b"x-forwarded-for" for name, _ in scope.get("headers") or ()):
        return None
    client = scope.get("client")
    # No trusted proxies: the peer itself, normalised (port dropped, IPv4-mapped IPv6 unwrapped).
    return _NO_PROXIES.client_address(str(client[0])) if client else None


def allowed(
    *,
    address: str | None,
    authorization: str | None,
    allow: Sequence[str],
    token: str | None,
) -> bool:
    """May this caller read the metrics? `address`: `direct_peer`'s answer (None: forwarded,
    so only the token counts)."""
    if token and authorization and authorization[:7].lower() == "bearer ":
        presented = authorization[7:].strip().encode()
        if hmac.compare_digest(presented, token.encode()):
            return True
    return address is not None and address in _networks(tuple(allow))


class _Jobs(Protocol):
    async def counts(self) -> Mapping[str, int]: ...


class _Router(Protocol):
    def health(self) -> Mapping[str, Mapping[str, Any]]: ...


async def take_readings(*, router: _Router, jobs: _Jobs, timeout_s: float) -> None:
    """What is read rather than counted: breakers, and the job queue's counts (Redis with the
    durable queue; a scrape while it is down keeps the last counts instead of failing)."""
    record_breakers(router.health())
    try:
        async with asyncio.timeout(timeout_s):
            record_jobs(await jobs.counts())
    except Exception as exc:
        log.warning("job counts unavailable for metrics: %s", type(exc).__name__)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type; merged over every process's files in
    multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`)."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_stopped() -> None:
    """At shutdown in multiprocess mode: this process's live gauges (open sockets, breakers)
    leave the sum. A worker that crashes needs its supervisor to call `mark_process_dead`."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        mark_process_dead(os.getpid(), path)
