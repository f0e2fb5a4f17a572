"""An attempt's moving deadline (first token, then idle between chunks, capped by the total)
with one timer per attempt instead of one `asyncio.timeout` per chunk.

Why: entering and leaving `asyncio.timeout_at` for every chunk creates and cancels a timer
each time; at hundreds of chunks per reply that was about half of the router's own CPU per
chunk (issue 20). Here the deadline is a number moved per chunk; the one timer, when it fires
early (the deadline moved on), re-arms itself for the current deadline.

Like `asyncio.timeout`, only the wait for the provider is ever interrupted: the timer cancels
the task only while it awaits the provider's next event, never in the consumer's code between
chunks; a deadline that passed meanwhile is noticed when the next wait starts. A cancellation
from elsewhere (an abort, a shutdown) stays a cancellation.

The hot path (router.py, per chunk) brackets its own `await` with `arm()` and, on a
cancellation, `interrupted()`, so no coroutine is created per chunk (issue 20); `next` is the
same wait as one call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

T = TypeVar("T")

# `asyncio.current_task(loop)` without its Python frame on 3.11 (once per chunk): the C
# function on 3.12+, else the C tasks' own table that 3.11's `current_task` reads.
_current_task: Callable[[asyncio.AbstractEventLoop], asyncio.Task[object] | None]
try:
    from _asyncio import current_task as _current_task  # type: ignore[attr-defined,no-redef]
except ImportError:  # pragma: no cover - Python 3.11
    _tasks = getattr(asyncio.tasks, "_current_tasks", None)
    _current_task = _tasks.get if isinstance(_tasks, dict) else asyncio.current_task


class DeadlinePassed(TimeoutError):
    """The wait for the provider outlasted the deadline (a TimeoutError, like asyncio's)."""


class Deadline:
    """Use: `arm()`; `await` the provider; `waiting = False`; on CancelledError call
    `interrupted()` (raises DeadlinePassed when the cancel was the deadline's) and re-raise."""

    __slots__ = ("_cancelling", "_handle", "_loop", "_task", "_time", "at", "expired", "waiting")

    def __init__(self, at: float) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self._time = loop.time
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = 0
        self.at = at
        self.expired = False
        self.waiting = False
        self._handle: asyncio.TimerHandle | None = loop.call_at(at, self._fire)

    def move(self, at: float) -> None:
        """The new deadline; a later one costs nothing, an earlier one re-arms the timer."""
        if at < self.at and self._handle is not None:
            self._handle.cancel()
            self._handle = self._loop.call_at(at, self._fire)
        self.at = at

    def arm(self) -> None:
        """Called right before awaiting the provider: raises DeadlinePassed if the deadline
        already passed, else marks the current task as the one the timer may interrupt."""
        if self._time() >= self.at:
            raise DeadlinePassed
        if self._handle is None:
            self._handle = self._loop.call_at(self.at, self._fire)
        task = _current_task(self._loop)  # whoever waits now is the one to interrupt
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self.waiting = True

    def interrupted(self) -> None:
        """The wait was cancelled: DeadlinePassed if the deadline did it (and nothing else
        cancelled the task meanwhile); returns otherwise, for the caller to re-raise."""
        self.waiting = False
        if self.expired and self._task.uncancel() <= self._cancelling:
            raise DeadlinePassed from None

    async def next(self, source: AsyncIterator[T]) -> T:
        """`anext(source)`, raising DeadlinePassed when the deadline passes first."""
        self.arm()
        try:
            value = await anext(source)
        except asyncio.CancelledError:
            self.interrupted()
            raise
        finally:
            self.waiting = False
        return value

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        if self._time() < self.at:  # moved on since the timer was set
            self._handle = self._loop.call_at(self.at, self._fire)
        elif self.waiting and not self.expired:
            self.expired = True
            self._task.cancel()
        # Else the consumer has the chunk; the next `arm` sees the passed deadline.
