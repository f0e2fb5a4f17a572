"""Small MongoDB write helpers shared by the services: a race-free upsert, and a group commit
for the small writes every chat reply makes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError


async def upsert(
    collection: AsyncCollection[Any], filter_: Mapping[str, Any], update: Mapping[str, Any]
) -> None:
    """An atomic upsert (`$inc`/`$set`/`$setOnInsert`) on a key with a unique index.

    Two first writers can both try to insert; the loser gets a duplicate key and retries,
    which then matches the winner's document: the standard race-free upsert.
    """
    try:
        await collection.update_one(filter_, update, upsert=True)
    except DuplicateKeyError:
        await collection.update_one(filter_, update, upsert=True)


Operation = InsertOne[Any] | UpdateOne


_Submitted = tuple[list[Operation], asyncio.Future[list[int | None]]]


class GroupCommit:
    """Writes that many requests make at once (after-reply counters, ledger inserts) sent
    together: one unordered `bulk_write` carries every operation submitted while the previous
    one was in flight (group commit). Nothing waits for a timer: a lone write goes out at
    once, and under load one command serves many replies.

    Each operation stays atomic on its own document (`$inc`, `$setOnInsert`, an insert under
    a unique index), so batching changes no outcome. `submit` returns, per operation, None
    or the error code MongoDB gave it; an upsert that lost the first-insert race
    (`retry_duplicate_upserts`) is sent again, as `upsert()` does. `collection` is resolved
    at each write (Beanie binds it when the database is initialised). `linger_s`: for writes
    nobody waits on (after a reply), the first of a batch waits that long for company."""

    def __init__(
        self,
        collection: Callable[[], AsyncCollection[Any]],
        *,
        retry_duplicate_upserts: bool = False,
        linger_s: float = 0.0,
    ) -> None:
        self._collection = collection
        self._retry = retry_duplicate_upserts
        self._linger_s = linger_s
        # Per event loop: the app runs on one, but tests run several apps on their own loops
        # in one process, and a future may only be resolved on its own loop.
        self._pending: dict[asyncio.AbstractEventLoop, list[_Submitted]] = {}
        self._tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    async def submit(self, operations: Sequence[Operation]) -> list[int | None]:
        if not operations:
            return []
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[int | None]] = loop.create_future()
        self._pending.setdefault(loop, []).append((list(operations), done))
        task = self._tasks.get(loop)
        if task is None or task.done():
            self._tasks[loop] = loop.create_task(self._drain(loop), name="mongo-group-commit")
        return await done

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            if self._linger_s:
                await asyncio.sleep(self._linger_s)
            while batch := self._pending.pop(loop, []):
                try:
                    codes = await self._write([op for ops, _ in batch for op in ops])
                except BaseException as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise  # cancelled: the writers are told, the task ends
                    continue
                start = 0
                for ops, done in batch:
                    if not done.done():
                        done.set_result(codes[start : start + len(ops)])
                    start += len(ops)
        finally:
            if self._tasks.get(loop) is asyncio.current_task():
                del self._tasks[loop]
            # Writers that arrived after a cancellation are never left waiting.
            for _, done in self._pending.pop(loop, []):
                if not done.done():
                    done.cancel()

    async def _write(self, operations: list[Operation]) -> list[int | None]:
        codes: list[int | None] = [None] * len(operations)
        collection = self._collection()
        try:
            await collection.bulk_write(operations, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            retry = [
                e["index"]
                for e in errors
                if self._retry
                and e.get("code") == 11000
                and isinstance(operations[e["index"]], UpdateOne)
            ]
            for e in errors:
                codes[e["index"]] = int(e.get("code", 0)) or None
            if retry:
                again = [operations[i] for i in retry]
                try:
                    await collection.bulk_write(again, ordered=False)
                    for i in retry:
                        codes[i] = None
                except BulkWriteError as second:
                    failed = {e["index"] for e in second.details.get("writeErrors", [])}
                    for n, i in enumerate(retry):
                        if n not in failed:
                            codes[i] = None
        return codes
