"""Control messages between the instances of one deployment (stop a reply, end a user's sockets,
take sockets out of a conversation their user lost access to).

With Redis they travel over one pub/sub channel that every instance subscribes to, the sender
included, so a handler runs wherever the thing it acts on lives. Without Redis there is one
process, and a publish calls the handlers directly. Delivery is at most once: every message
here has a durable fallback (an abort is also written to MongoDB; a disabled user is also
refused at their next event; each instance re-checks its sockets' conversation access on its
presence heartbeat), so a missed message only costs latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("starguide.cluster")

Handler = Callable[[dict[str, Any]], Awaitable[None]]
CHANNEL = "starguide:control"
# Dispatched locally (never published) when the channel is subscribed again after a loss:
# whatever was published meanwhile is gone, so caches kept by invalidation start over.
RESUBSCRIBED = "cluster:resubscribed"
_RETRY_SECONDS = 1.0


class Cluster:
    def __init__(self, redis: Redis | None, *, channel: str = CHANNEL) -> None:
        self.instance_id = uuid.uuid4().hex
        self._redis = redis
        self._channel = channel
        self._handlers: dict[str, list[Handler]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    async def publish(self, kind: str, data: dict[str, Any]) -> None:
        if self._redis is None:
            await self._dispatch(kind, data)
            return
        payload = json.dumps({"kind": kind, "data": data, "from": self.instance_id})
        await self._redis.publish(self._channel, payload)

    async def start(self, wait_s: float = 3.0) -> None:
        """Subscribes before returning, so a publish right after start is not missed. Redis
        being down does not stop the server starting (readiness reports it); the listener
        keeps retrying in the background."""
        if self._redis is None or self._listener is not None:
            return
        self._listener = asyncio.create_task(self._listen(), name="cluster-listener")
        try:
            async with asyncio.timeout(wait_s):
                await self._subscribed.wait()
        except TimeoutError:
            log.warning("control channel not subscribed yet; retrying in the background")

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    async def _listen(self) -> None:
        """Subscribes again after every loss, for as long as Redis is away. Logged once per
        outage (lost, then restored), not once per retry."""
        assert self._redis is not None
        lost = False
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._subscribed.set()
                    if lost:
                        lost = False
                        log.warning("control channel restored")
                        await self._dispatch(RESUBSCRIBED, {})
                    async for message in pubsub.listen():
                        await self._receive(message.get("data"))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if not lost:
                    lost = True
                    log.warning("control channel lost, resubscribing: %s", type(exc).__name__)
                await asyncio.sleep(_RETRY_SECONDS)

    async def _receive(self, raw: Any) -> None:
        try:
            message = json.loads(raw)
            kind, data = message["kind"], message["data"]
        except (TypeError, ValueError, KeyError):
            log.warning("ignored a malformed control message")
            return
        await self._dispatch(kind, data)

    async def _dispatch(self, kind: str, data: dict[str, Any]) -> None:
        for handler in self._handlers.get(kind, ()):
            try:
                await handler(data)
            except Exception:
                log.exception("control handler for %s failed", kind)
