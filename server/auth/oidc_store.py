"""Short-lived, single-use values of single sign-on: the login's `state` (with its nonce, PKCE
verifier and the app's `redirect_uri`) and the one-time login code.

They must be shared by every instance, since the provider may send the browser back to another
instance than the one that started the login, and the app may exchange the code anywhere. With
`REDIS_URL` they live in Redis under `starguide:oidc:<kind>:<sha256 of the secret>` with a TTL and
are taken with `GETDEL`: one atomic command, so of two requests presenting the same state or
code exactly one gets the value. Without Redis there is one process, and a dict guarded by the
event loop does the same. Keys are hashes: a Redis dump holds no usable state or code.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Literal

from redis.asyncio import Redis

PREFIX = "starguide:oidc:"
Kind = Literal["state", "code"]
_MAX_MEMORY_ENTRIES = 100_000  # logins begun and never finished must not grow memory forever


def secret_key(kind: Kind, secret: str) -> str:
    """Where the value of `secret` is kept (the secret itself never is)."""
    return f"{PREFIX}{kind}:{hashlib.sha256(secret.encode()).hexdigest()}"


class OneTimeStore:
    def __init__(self, redis: Redis | None) -> None:
        self._redis = redis
        self._memory: dict[str, tuple[float, str]] = {}

    async def put(self, kind: Kind, secret: str, value: dict[str, Any], *, ttl: int) -> None:
        key, raw = secret_key(kind, secret), json.dumps(value, separators=(",", ":"))
        if self._redis is not None:
            await self._redis.set(key, raw, ex=ttl)
            return
        self._sweep()
        self._memory[key] = (time.monotonic() + ttl, raw)

    async def take(self, kind: Kind, secret: str) -> dict[str, Any] | None:
        """The value, removed in the same step; None if unknown, already taken or expired."""
        key = secret_key(kind, secret)
        raw: str | bytes | None
        if self._redis is not None:
            raw = await self._redis.getdel(key)
        else:
            until, raw = self._memory.pop(key, (0.0, None))
            if until <= time.monotonic():
                raw = None
        if raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)
        return value

    def _sweep(self) -> None:
        now = time.monotonic()
        if len(self._memory) < _MAX_MEMORY_ENTRIES // 2:
            return
        for key in [k for k, (until, _) in self._memory.items() if until <= now]:
            del self._memory[key]
        while len(self._memory) >= _MAX_MEMORY_ENTRIES:
            self._memory.pop(next(iter(self._memory)))
