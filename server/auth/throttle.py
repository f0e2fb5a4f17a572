"""Login throttling per account with the `limits` library (memory, or Redis when configured).

Every attempt counts; a successful login clears the count. After `max_failures` attempts without
success within `lock_seconds`, the account is locked until the window moves on. Unknown emails are
counted the same way, so the answers look alike.
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from server.errors import RateLimited


def limits_storage(redis_url: str | None) -> Storage:
    """Shared by every limiter: Redis when configured (all instances agree), memory otherwise."""
    if redis_url:
        uri = redis_url.replace("redis://", "async+redis://", 1).replace(
            "rediss://", "async+rediss://", 1
        )
        storage = storage_from_string(uri, implementation="redispy")
        assert isinstance(storage, Storage)
        return storage
    return MemoryStorage()


class LoginThrottle:
    def __init__(self, *, storage: Storage, max_failures: int, lock_seconds: int) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerSecond(max_failures, lock_seconds, namespace="login")

    @staticmethod
    def _key(email: str) -> str:
        # Keys name no email: a hash keeps personal data out of Redis.
        return hashlib.sha256(email.lower().encode()).hexdigest()[:32]

    async def attempt(self, email: str) -> None:
        """Counts the attempt before the password is checked: one atomic hit, so parallel
        guesses cannot slip past the limit between a check and a record."""
        key = self._key(email)
        if not await self._limiter.hit(self._item, key):
            stats = await self._limiter.get_window_stats(self._item, key)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            raise RateLimited(
                "Too many failed logins for this account; try again later.",
                retry_after=retry_after,
                code="too_many_login_attempts",
            )

    async def reset(self, email: str) -> None:
        await self._limiter.clear(self._item, self._key(email))
