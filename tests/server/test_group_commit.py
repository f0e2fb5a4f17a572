"""GroupCommit (server/mongo.py): writes submitted together go out in one command, and every
writer is answered, also when writers run on different event loops (tests run several apps
in one process, each on its own loop) or the drain is cancelled."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

from pymongo import AsyncMongoClient, InsertOne
from pymongo.asynchronous.collection import AsyncCollection

from server.mongo import GroupCommit


class PerLoopCollection:
    """One client per event loop (a PyMongo async client belongs to the loop it was made on)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"group_commit_{uuid.uuid4().hex[:8]}"
        self.clients: dict[asyncio.AbstractEventLoop, AsyncMongoClient[Any]] = {}
        self.lock = threading.Lock()

    def __call__(self) -> AsyncCollection[Any]:
        loop = asyncio.get_running_loop()
        with self.lock:
            client = self.clients.setdefault(loop, AsyncMongoClient(self.url))
        return client["group_commit_tests"][self.name]

    async def close_mine(self) -> None:
        client = self.clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()


async def test_writers_on_two_event_loops_are_both_answered(mongo_url: str) -> None:
    collection = PerLoopCollection(mongo_url)
    commit = GroupCommit(collection, linger_s=0.3)

    async def write_then_close(n: int) -> list[int | None]:
        try:
            return await asyncio.wait_for(commit.submit([InsertOne({"n": n})]), 10)
        finally:
            await collection.close_mine()

    other = asyncio.create_task(asyncio.to_thread(asyncio.run, write_then_close(1)))
    await asyncio.sleep(0.1)  # the other loop's writer is waiting in its linger
    mine = await asyncio.wait_for(commit.submit([InsertOne({"n": 2})]), 10)
    assert mine == [None]
    assert await other == [None]
    stored = await collection().count_documents({})
    assert stored == 2
    await collection.close_mine()


async def test_a_cancelled_drain_never_leaves_a_writer_waiting(mongo_url: str) -> None:
    collection = PerLoopCollection(mongo_url)
    commit = GroupCommit(collection, linger_s=5)
    writer = asyncio.create_task(commit.submit([InsertOne({"n": 1})]))
    await asyncio.sleep(0.05)
    (drain,) = commit._tasks.values()
    drain.cancel()
    done, _ = await asyncio.wait([writer], timeout=2)
    assert done, "the writer was left waiting"
    assert writer.cancelled() or isinstance(writer.exception(), BaseException)
    await collection.close_mine()
