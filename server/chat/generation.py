"""A reply being generated: a task that outlives whoever watches it, with its events buffered.

The buffer is the replay log: a watcher that arrives late (a re-sent message, a reconnected
client) first gets every event so far, then the live ones, so `seq` never has gaps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Literal

from server.events import AssistantToken, ServerEvent

log = logging.getLogger("starguide.chat")

# A watcher that has just written waits this long before its next write, so the tokens of
# that moment go out as one write (one SSE chunk through the middleware stack and the socket)
# instead of one each: up to 100 ms more per word, none for the first (50 ms before issue 20:
# half the writes for text that still moves ten times a second).
COALESCE_SECONDS = 0.1

StopReason = Literal["aborted", "shutdown"]
Listener = Callable[["Generation", ServerEvent], None]


class Generation:
    def __init__(self, *, message_id: str, conversation_id: str, user_id: str) -> None:
        self.message_id = message_id
        self.conversation_id = conversation_id
        self.user_id = user_id
        self.events: list[ServerEvent] = []
        self.finished = False
        self.stop_reason: StopReason | None = None
        self.task: asyncio.Task[None] | None = None
        self._signal = asyncio.Event()
        self._listeners: tuple[Listener, ...] = ()

    def publish(self, event: ServerEvent) -> None:
        self.events.append(event)
        for listener in self._listeners:
            try:
                listener(self, event)
            except Exception:  # a broken listener must not break the reply
                log.exception("chat event listener failed")
        self._wake()

    def finish(self) -> None:
        self.finished = True
        self._wake()

    def _wake(self) -> None:
        signal, self._signal = self._signal, asyncio.Event()
        signal.set()

    async def watch(
        self,
        after_seq: int = 0,
        *,
        idle_s: float | None = None,
        coalesce_s: float = COALESCE_SECONDS,
    ) -> AsyncIterator[list[ServerEvent]]:
        """Every event so far (token events after `after_seq`), then live ones until the end.

        Events come in batches of whatever has accumulated since the last one, and at most
        one batch per `coalesce_s`, so a watcher writes several tokens at once; an empty
        batch means `idle_s` passed quietly.
        """
        index = 0
        while True:
            batch: list[ServerEvent] = []
            while index < len(self.events):
                event = self.events[index]
                index += 1
                if isinstance(event, AssistantToken) and event.seq <= after_seq:
                    continue
                batch.append(event)
            if batch:
                yield batch
                # The window after a write, slept at once rather than after the next event's
                # wake-up (same timing: what arrives in it goes out at its end, what arrives
                # later at once), so a write costs this task one wake-up instead of two.
                if coalesce_s > 0 and not self.finished:
                    await asyncio.sleep(coalesce_s)
                continue
            if self.finished:
                return
            try:
                async with asyncio.timeout(idle_s):
                    await self._signal.wait()
            except TimeoutError:
                yield []

    async def wait(self) -> None:
        while not self.finished:
            await self._signal.wait()

    def stop(self, reason: StopReason) -> bool:
        """Cancel the generation; its task records why. False when it had already ended."""
        if self.task is None or self.task.done() or self.finished:
            return False
        self.stop_reason = reason
        self.task.cancel()
        return True


class GenerationRegistry:
    """The generations running in this process, by assistant message id."""

    def __init__(self) -> None:
        self._running: dict[str, Generation] = {}
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """Called for every event of every generation (the socket gateway fans them out)."""
        self._listeners.append(listener)

    def get(self, message_id: str) -> Generation | None:
        return self._running.get(message_id)

    def __len__(self) -> int:
        return len(self._running)

    def in_conversation(self, conversation_id: str) -> list[Generation]:
        return [g for g in self._running.values() if g.conversation_id == conversation_id]

    def start(self, generation: Generation, work: Coroutine[Any, Any, None]) -> None:
        generation._listeners = tuple(self._listeners)
        self._running[generation.message_id] = generation
        task = asyncio.create_task(work, name=f"generation:{generation.message_id}")
        generation.task = task

        def done(finished: asyncio.Task[None]) -> None:
            self._running.pop(generation.message_id, None)
            # Retrieved here, always: a generation that failed past its own error handling
            # (the database gone while it recorded the failure) is logged once, by us, not as
            # asyncio's "Task exception was never retrieved" at garbage collection.
            if not finished.cancelled() and (error := finished.exception()) is not None:
                log.error(
                    "reply generation ended with an error",
                    exc_info=(type(error), error, error.__traceback__),
                )
            generation.finish()

        task.add_done_callback(done)

    async def drain(self, timeout_s: float) -> None:
        """Lets running generations finish for at most `timeout_s` (a graceful shutdown:
        their sockets are closed, but the reply is still stored and, with Redis, still
        delivered to the learner's sockets on other instances)."""
        tasks = [g.task for g in self._running.values() if g.task is not None]
        if tasks and timeout_s > 0:
            log.info("waiting for running replies", extra={"replies": len(tasks)})
            await asyncio.wait(tasks, timeout=timeout_s)

    async def shutdown(self, grace_s: float = 10.0) -> None:
        """Stop every generation; each records itself as interrupted before it ends."""
        tasks = [g.task for g in self._running.values() if g.task is not None]
        for generation in list(self._running.values()):
            generation.stop("shutdown")
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
