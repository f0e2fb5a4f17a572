"""The job facility's interface: handlers, their context, what `get` answers (docs/JOBS.md).

Two queues implement it with the same behaviour: `DurableJobQueue` (Redis, through saq) when
`REDIS_URL` is set, `InProcessJobQueue` (asyncio tasks of this process) when it is not. A
feature never sees which one runs: it registers handlers and enqueues by name.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from server import metrics

log = logging.getLogger("starguide.jobs")

JobStatus = Literal["queued", "running", "complete", "failed"]
ProgressReport = Callable[[int, int], Awaitable[None]]


@dataclass
class JobContext:
    """What a handler gets besides its payload. `attempt` counts from 1; a handler that may run
    twice (a retry after a crash) must be idempotent."""

    job_id: str
    attempt: int
    state: Any  # the AppState (typed loosely: server.state imports this package)
    _report: ProgressReport = field(repr=False)

    async def progress(self, done: int, total: int) -> None:
        """Readable through `state.jobs.get` on every instance; also the durable queue's
        heartbeat, so a long step between two reports must stay under JOBS_HEARTBEAT_SECONDS
        only when nothing else beats (the queue beats on its own while the handler runs)."""
        await self._report(max(0, done), max(0, total))


Handler = Callable[[JobContext, dict[str, Any]], Awaitable[dict[str, Any] | None]]
# A feature's `register_jobs(queue)`, listed in server.app.JOB_HANDLERS.
JobRegistration = Callable[["JobQueue"], None]


class JobProgress(BaseModel):
    done: int = 0
    total: int = 0


class JobInfo(BaseModel):
    """A job as every instance sees it. `owner_id` comes from the payload's `owner_id` and
    decides who may read the job through the API; it is not shown there."""

    id: str
    name: str
    status: JobStatus
    progress: JobProgress
    result: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    owner_id: str | None = None


class JobError(Exception):
    """Raised by a handler with a message safe to show to the job's owner (`JobInfo.error`);
    any other exception is shown only by its class name. `retry=False` fails the job at once
    (a corrupt file will not get better)."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class UnknownJob(LookupError):
    """Enqueued under a name no handler is registered for (a programming error)."""


def public_error(exc: BaseException) -> str:
    if isinstance(exc, JobError):
        return str(exc)[:300]
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"failed: {type(exc).__name__}"


_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def new_job_id(name: str, key: str | None) -> str:
    """Opaque ids; with a key, derived from (name, key), so that every instance finds the same
    job for the same key without a lookup table (the queue's own uniqueness then dedupes)."""
    if key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{name}\0{key}".encode()).hexdigest()[:32]


def valid_job_id(job_id: str) -> bool:
    return bool(_JOB_ID.match(job_id))


def owner_of(payload: dict[str, Any]) -> str | None:
    owner = payload.get("owner_id")
    return None if owner is None else str(owner)


class JobQueue(ABC):
    """Handlers by name, the retry policy, and the run of one attempt; subclasses store jobs."""

    def __init__(self, *, retry_delay_s: float, retry_max_delay_s: float) -> None:
        self._handlers: dict[str, Handler] = {}
        self._retry_delay_s = retry_delay_s
        self._retry_max_delay_s = retry_max_delay_s
        self._state: Any = None

    def register(self, name: str, handler: Handler) -> None:
        """Later registrations of a name replace earlier ones (a test may swap a handler)."""
        self._handlers[name] = handler

    def handles(self, name: str) -> bool:
        return name in self._handlers

    def retry_delay(self, attempt: int) -> float:
        """Exponential backoff after the `attempt`-th failure: base, 2x, 4x ... capped, with
        jitter in [50%, 100%] so that jobs failing together do not retry together."""
        delay = min(self._retry_max_delay_s, self._retry_delay_s * 2 ** max(attempt - 1, 0))
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret

    async def _execute(
        self,
        *,
        name: str,
        payload: dict[str, Any],
        job_id: str,
        attempt: int,
        report: ProgressReport,
    ) -> dict[str, Any] | None:
        handler = self._handlers.get(name)
        if handler is None:
            raise JobError(f"no handler for job {name!r}", retry=False)
        ctx = JobContext(job_id=job_id, attempt=attempt, state=self._state, _report=report)
        with metrics.job_attempt(name):
            return await handler(ctx, payload)

    def _check_name(self, name: str) -> None:
        # Only where the handlers live: a separate worker may know names this process does not,
        # so the durable queue checks nothing at enqueue (an unknown name fails the job).
        if not self.handles(name):
            raise UnknownJob(name)

    @abstractmethod
    async def start(self, state: Any) -> None:
        """Bind the AppState handlers receive and start this process's workers (if any)."""

    @abstractmethod
    async def enqueue(
        self,
        name: str,
        payload: dict[str, Any],
        *,
        key: str | None = None,
        retries: int = 3,
        timeout_s: float = 300,
    ) -> str:
        """Queue a job and return its id. `key` dedupes: while a job with the same name and key
        is queued or running, its id is returned and nothing new is queued. `retries` is how
        many times a failed (raised, timed out, or lost with its worker) attempt is retried."""

    @abstractmethod
    async def get(self, job_id: str) -> JobInfo | None: ...

    async def counts(self) -> dict[str, int]:
        """Jobs waiting (`queued`, retries waiting for their delay excluded) and `running`,
        across every instance where the queue is shared: read by `GET /metrics`."""
        return {}

    @abstractmethod
    async def aclose(self) -> None:
        """Stop this process's workers; a running attempt is interrupted and queued again."""
