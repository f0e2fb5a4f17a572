"""An attempt's moving deadline (first token, then idle between chunks, capped by the total)
with one timer per attempt instead of one `asyncio.timeout` per chunk.

Why: entering and leaving `asyncio.timeout_at` for every chunk creates and cancels a timer
each time; at hundreds of chunks per reply that was about half of the router's own CPU per
chunk (issue 20). Here the deadline is a number moved per chunk; the one timer, when it fires
early (the deadline moved on), re-arms itself for the current deadline.

Like `asyncio.timeout`, only the wait for the provider is ever interrupted: the timer cancels
the task only while it awaits the provider's next event (`next`), never in the consumer's code
between chunks; a deadline that passed meanwhile is noticed when the next wait starts. A
cancellation from elsewhere (an abort, a shutdown) stays a cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")


class Deadline:
    __slots__ = ("_handle", "_loop", "_task", "_waiting", "at", "expired")

    def __init__(self, at: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self.at = at
        self.expired = False
        self._waiting = False
        self._handle: asyncio.TimerHandle | None = self._loop.call_at(at, self._fire)

    def move(self, at: float) -> None:
        """The new deadline; a later one costs nothing, an earlier one re-arms the timer."""
        if at < self.at and self._handle is not None:
            self._handle.cancel()
            self._handle = self._loop.call_at(at, self._fire)
        self.at = at

    async def next(self, source: AsyncIterator[T]) -> T:
        """`anext(source)`, raising TimeoutError when the deadline passes first."""
        loop = self._loop
        if loop.time() >= self.at:
            raise TimeoutError
        if self._handle is None:
            self._handle = loop.call_at(self.at, self._fire)
        task = asyncio.current_task(loop)  # whoever waits now is the one to interrupt
        assert task is not None
        self._task = task
        cancelling = task.cancelling()
        self._waiting = True
        try:
            return await anext(source)
        except asyncio.CancelledError:
            if self.expired and self._task.uncancel() <= cancelling:
                raise TimeoutError from None
            raise
        finally:
            self._waiting = False

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        if self._loop.time() < self.at:  # moved on since the timer was set
            self._handle = self._loop.call_at(self.at, self._fire)
        elif self._waiting and not self.expired:
            self.expired = True
            self._task.cancel()
        # Else the consumer has the chunk; `next` sees the passed deadline when it is called.
