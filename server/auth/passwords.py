"""argon2id through pwdlib, at OWASP's parameters; hashing runs off the event loop."""

from __future__ import annotations

import asyncio

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


class Passwords:
    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHash(
            (Argon2Hasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism),)
        )
        # Verifying against this when an email is unknown keeps the timing shape of a real
        # wrong-password check, so the answer does not reveal which emails exist.
        self._dummy_hash = self._hasher.hash("starguide-timing-equaliser")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        target = password_hash or self._dummy_hash
        ok = await asyncio.to_thread(self._hasher.verify, password, target)
        return ok and password_hash is not None
