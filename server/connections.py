"""The options of the MongoDB and Redis clients: an outage fails fast and heals by itself.

Both drivers reconnect on their own once a server is back, so the clients are built once and
never rebuilt. What they need from us is bounded waits (a request during an outage answers 503
`dependency_unavailable` in seconds, see `server.errors.dependency_error`) and, for Redis, one
retry on a fresh connection, or every connection pooled before a restart fails once afterwards.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# Longest wait for one Redis reply: above the 5 s blocking XREAD of stream replay.
REDIS_READ_TIMEOUT_SECONDS = 10.0


def mongo_client(
    url: str, *, timeout_s: float, appname: str = "starguide"
) -> AsyncMongoClient[dict[str, Any]]:
    """Timezone-aware; server selection and connecting give up after `timeout_s` (the
    driver's defaults are 30 s and 20 s). Reads get no socket timeout: a slow aggregation is
    not an outage, and an operation on a hung server is cancelled anyway once the driver's
    heartbeat marks the server unknown."""
    timeout_ms = max(1, round(timeout_s * 1000))
    return AsyncMongoClient(
        url,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        appname=appname,
    )


def redis_options(*, timeout_s: float) -> dict[str, Any]:
    """Keyword arguments for `Redis.from_url`, shared by our client and the `limits` storage.

    A connection pooled before Redis restarted fails on its next command ("connection closed
    by server"): one retry on a new connection hides that, and costs nothing while Redis is
    down (the retry is refused at once). Timeouts are not retried: the command may have run.
    """
    return {
        "socket_connect_timeout": timeout_s,
        "socket_timeout": max(REDIS_READ_TIMEOUT_SECONDS, timeout_s),
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    }
