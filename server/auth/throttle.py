"""Throttling of the unauthenticated routes, with the `limits` library (memory, or Redis).

Two kinds of limit, because two kinds of abuse:
- per client address (`ClientLimiter`): sign-ups, login attempts on any account, password-reset
  requests. This is what stops one client creating accounts in bulk or spraying one password
  across many emails. Every request counts, in one atomic hit before any work is done.
- per account (`LoginThrottle`): guessing one account's password. A lockout any stranger can
  trigger would let anyone keep a learner out, so the account is only locked for addresses that
  have never logged in to it: from each address, `max_failures` attempts without a success per
  `lock_seconds` window; across all addresses together the same budget, past which only a known
  device (an address this account logged in from before, within the refresh-token lifetime)
  may still try, and still only within its own per-address budget.
Keys are hashes: no email or address is stored in Redis.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import time
from collections import OrderedDict
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import Redis

from server.auth.clients import limit_key
from server.errors import RateLimited

KNOWN_PREFIX = "starguide:login:known:"
TRIED_PREFIX = "starguide:login:tried:"


def _key(prefix: str, account: str) -> str:
    """`prefix{account}`: the hash tag puts an account's keys in one Redis Cluster slot, so
    `forget` can read and delete both in one transaction there too (docs/SCALING.md)."""
    return f"{prefix}{{{account}}}"


_MAX_KNOWN_DEVICES = 32  # per account; the ones seen longest ago are forgotten first


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def limits_storage(redis_url: str | None, **redis_options: Any) -> Storage:
    """Shared by every limiter: Redis when configured (all instances agree), memory otherwise.
    `redis_options`: for `Redis.from_url` (the timeouts and retry of `server.connections`)."""
    if redis_url:
        uri = redis_url.replace("redis://", "async+redis://", 1).replace(
            "rediss://", "async+rediss://", 1
        )
        storage = storage_from_string(uri, implementation="redispy", **redis_options)
        assert isinstance(storage, Storage)
        return storage
    return SweptMemoryStorage()


class SweptMemoryStorage(MemoryStorage):
    """`limits`' in-process storage with a cheaper clean-up of lapsed entries.

    Why: after every hit, `limits`' own clean-up walks every key it holds and sends each key's
    search for lapsed entries to a worker thread (`asyncio.to_thread`), then starts again at
    the next hit. The chat's day-long window keeps a key for every learner who wrote that day,
    so in a one-process deployment each message cost a thread hop per learner of the day, and
    the clean-up never stopped under load (issue 20; the socket limiter had the same cost,
    `realtime/limits.py`). Here the clean-up searches on the loop (a bisection per key, with no
    await, so no hit interleaves with it) and at most every `SWEEP_EVERY_S`: it only frees
    memory, as a window's count never depends on it.

    It replaces `limits`' private `__expire_events` (name-mangled): `limits` is pinned to its
    minor version, and `tests/auth/test_throttle_storage.py` fails if the hook goes away.
    """

    SWEEP_EVERY_S = 5.0

    def __init__(self) -> None:
        super().__init__()
        self._swept_at = 0.0

    async def _MemoryStorage__expire_events(self) -> None:
        now = time.time()
        if now - self._swept_at < self.SWEEP_EVERY_S:
            return
        self._swept_at = now
        for key in list(self.events):
            events = self.events[key]
            # Newest first: the entries still in their window come before the first lapsed one.
            kept = bisect.bisect_left(events, -now, key=lambda entry: -entry.expiry)
            if kept == 0:
                del self.events[key]
                self.locks.pop(key, None)
            elif kept < len(events):
                del events[kept:]
        for key in [k for k, at in self.expirations.items() if at <= now]:
            self.storage.pop(key, None)
            self.expirations.pop(key, None)
            self.locks.pop(key, None)


async def _retry_after(
    limiter: MovingWindowRateLimiter, item: RateLimitItem, *identifiers: str
) -> int:
    stats = await limiter.get_window_stats(item, *identifiers)
    return max(1, math.ceil(stats.reset_time - time.time()))


class ClientLimiter:
    """One named limit per client address, e.g. `ClientLimiter(storage=s, rate="10/hour",
    name="signup")`; `hit(address)` before doing the work, 429 `rate_limited` past it."""

    def __init__(self, *, storage: Storage, rate: str, name: str, message: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._items = parse_many(rate)
        self._name = f"client-{name}"
        self._message = message

    async def hit(self, address: str) -> None:
        key = limit_key(address)
        for item in self._items:
            if not await self._limiter.hit(item, self._name, key):
                raise RateLimited(
                    self._message,
                    retry_after=await _retry_after(self._limiter, item, self._name, key),
                )


class ClientLimits:
    """The per-client limits of the account routes, built once from the settings."""

    def __init__(self, *, storage: Storage, signup: str, login: str, password_reset: str) -> None:
        self.signup = ClientLimiter(
            storage=storage,
            rate=signup,
            name="signup",
            message="Too many sign-ups from this address; try again later.",
        )
        self.login = ClientLimiter(
            storage=storage,
            rate=login,
            name="login",
            message="Too many login attempts from this address; try again later.",
        )
        # For POST /auth/password/forgot and /auth/password/reset (account recovery).
        self.password_reset = ClientLimiter(
            storage=storage,
            rate=password_reset,
            name="password-reset",
            message="Too many password-reset requests from this address; try again later.",
        )


class AccountDevices:
    """Per account, two sets of address hashes: the addresses it logged in from ("known", each
    kept `known_seconds` after its last success) and the ones that tried it lately ("tried",
    kept `tried_seconds`, the lock window: what erasing the account must clear). Redis: a hash
    `starguide:login:known:<account hash>` (field: address hash, value: when it lapses) and a
    set `starguide:login:tried:<account hash>`; process memory without Redis."""

    def __init__(self, redis: Redis | None, *, known_seconds: int, tried_seconds: int) -> None:
        self._redis = redis
        self._known_ttl = known_seconds
        self._tried_ttl = tried_seconds
        self._known: dict[str, dict[str, float]] = {}
        # Accounts in the order they were last tried (one TTL): lapsed ones are at the front.
        self._tried: OrderedDict[str, tuple[float, set[str]]] = OrderedDict()

    async def tried(self, account: str, device: str) -> None:
        if self._redis is not None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.sadd(_key(TRIED_PREFIX, account), device)
                pipe.expire(_key(TRIED_PREFIX, account), self._tried_ttl)
                await pipe.execute()
            return
        now = time.monotonic()
        while self._tried and next(iter(self._tried.values()))[0] <= now:
            self._tried.popitem(last=False)
        _, devices = self._tried.pop(account, (0.0, set()))
        devices.add(device)
        self._tried[account] = (now + self._tried_ttl, devices)

    async def remember(self, account: str, device: str) -> None:
        until = time.time() + self._known_ttl
        if self._redis is None:
            devices = self._known.setdefault(account, {})
            devices[device] = until
            self._prune(devices)
            return
        key = _key(KNOWN_PREFIX, account)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, device, str(until))
            pipe.expire(key, self._known_ttl)
            pipe.hlen(key)
            *_, size = await pipe.execute()
        if int(size) > _MAX_KNOWN_DEVICES:
            stored = await self._redis.hgetall(key)
            devices = {_text(k): float(v) for k, v in stored.items()}
            stale = set(devices)
            self._prune(devices)
            stale -= set(devices)
            if stale:
                await self._redis.hdel(key, *stale)

    async def known(self, account: str, device: str) -> bool:
        if self._redis is None:
            until = self._known.get(account, {}).get(device)
        else:
            raw = await self._redis.hget(_key(KNOWN_PREFIX, account), device)
            until = float(raw) if raw is not None else None
        return until is not None and until > time.time()

    async def forget(self, account: str) -> set[str]:
        """Forgets the account; returns the addresses that tried it lately."""
        if self._redis is None:
            self._known.pop(account, None)
            return self._tried.pop(account, (0.0, set()))[1]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.smembers(_key(TRIED_PREFIX, account))
            pipe.delete(_key(TRIED_PREFIX, account), _key(KNOWN_PREFIX, account))
            tried, _ = await pipe.execute()
        return {_text(device) for device in tried}

    @staticmethod
    def _prune(devices: dict[str, float]) -> None:
        now = time.time()
        for device in [d for d, until in devices.items() if until <= now]:
            del devices[device]
        while len(devices) > _MAX_KNOWN_DEVICES:
            del devices[min(devices, key=devices.__getitem__)]


class LoginThrottle:
    """Every login is counted before the password is checked, in atomic hits, so parallel
    guesses cannot slip past a limit between a check and a record; a success clears the
    account's counts. Unknown emails are counted the same way, so the answers look alike."""

    def __init__(
        self,
        *,
        storage: Storage,
        max_failures: int,
        lock_seconds: int,
        per_client: ClientLimiter | None = None,
        redis: Redis | None = None,
        known_device_seconds: int = 30 * 86_400,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerSecond(max_failures, lock_seconds, namespace="login")
        self._per_client = per_client
        self._devices = AccountDevices(
            redis, known_seconds=known_device_seconds, tried_seconds=lock_seconds
        )

    @staticmethod
    def _key(email: str) -> str:
        # Keys name no email: a hash keeps personal data out of Redis.
        return hashlib.sha256(email.lower().encode()).hexdigest()[:32]

    def _locked(self, retry_after: int) -> RateLimited:
        return RateLimited(
            "Too many failed logins for this account; try again later.",
            retry_after=retry_after,
            code="too_many_login_attempts",
        )

    async def attempt(self, email: str, *, client: str | None = None) -> None:
        """Raises 429 unless this attempt may go on to the password check. `client` is the
        caller's address (None: an in-process caller, counted as one device)."""
        if self._per_client is not None and client is not None:
            await self._per_client.hit(client)
        account, device = self._key(email), limit_key(client or "local")
        await self._devices.tried(account, device)
        if not await self._limiter.hit(self._item, "device", account, device):
            retry = await _retry_after(self._limiter, self._item, "device", account, device)
            raise self._locked(retry)
        if not await self._limiter.hit(self._item, account):
            if not await self._devices.known(account, device):
                raise self._locked(await _retry_after(self._limiter, self._item, account))

    async def succeeded(self, email: str, *, client: str | None = None) -> None:
        """A correct password: the counts start again and this address becomes known."""
        account, device = self._key(email), limit_key(client or "local")
        await self._limiter.clear(self._item, "device", account, device)
        await self._limiter.clear(self._item, account)
        await self._devices.remember(account, device)

    async def reset(self, email: str) -> None:
        """Forgets everything kept about the account: its counts, per address too, and its
        known devices (erasure calls this)."""
        account = self._key(email)
        for device in await self._devices.forget(account):
            await self._limiter.clear(self._item, "device", account, device)
        await self._limiter.clear(self._item, account)
