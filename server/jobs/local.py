"""Jobs without Redis: asyncio workers inside the server process (one instance, not durable).

Same behaviour as the durable queue (dedupe by key, retries with backoff, timeouts,
progress), but the jobs live in this process's memory: a restart loses what was queued, which
is why features that must not lose work also resume from their own records at start-up (the
study library re-enqueues documents left `queued` or `processing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from server.jobs.base import (
    JobError,
    JobInfo,
    JobProgress,
    JobQueue,
    JobStatus,
    log,
    new_job_id,
    owner_of,
    public_error,
)


@dataclass
class _Job:
    id: str
    name: str
    payload: dict[str, Any]
    key: str | None
    retries: int
    timeout_s: float
    status: JobStatus = "queued"
    attempts: int = 0
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    finished_at: float | None = None

    def info(self) -> JobInfo:
        return JobInfo(
            id=self.id,
            name=self.name,
            status=self.status,
            progress=JobProgress(done=self.done, total=self.total),
            result=self.result,
            error=self.error,
            attempts=self.attempts,
            owner_id=owner_of(self.payload),
        )


class InProcessJobQueue(JobQueue):
    def __init__(
        self,
        *,
        concurrency: int,
        retry_delay_s: float,
        retry_max_delay_s: float,
        result_ttl_s: float,
    ) -> None:
        super().__init__(retry_delay_s=retry_delay_s, retry_max_delay_s=retry_max_delay_s)
        self._concurrency = concurrency
        self._result_ttl_s = result_ttl_s
        self._jobs: dict[str, _Job] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._retry_timers: set[asyncio.Task[None]] = set()

    async def start(self, state: Any) -> None:
        # Always runs workers, whatever JOBS_IN_PROCESS says: without Redis no other process
        # can see these jobs.
        self._state = state
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._work(), name=f"job-worker-{n}")
                for n in range(self._concurrency)
            ]

    async def enqueue(
        self,
        name: str,
        payload: dict[str, Any],
        *,
        key: str | None = None,
        retries: int = 3,
        timeout_s: float = 300,
    ) -> str:
        self._check_name(name)
        self._forget_old()
        job_id = new_job_id(name, key)
        existing = self._jobs.get(job_id)
        # Check and insert with no await in between: atomic within the event loop.
        if existing is not None and existing.status in ("queued", "running"):
            return job_id
        self._jobs[job_id] = _Job(
            id=job_id,
            name=name,
            payload=dict(payload),
            key=key,
            retries=max(0, retries),
            timeout_s=timeout_s,
        )
        self._ready.put_nowait(job_id)
        return job_id

    async def get(self, job_id: str) -> JobInfo | None:
        job = self._jobs.get(job_id)
        return None if job is None else job.info()

    async def counts(self) -> dict[str, int]:
        jobs = list(self._jobs.values())
        return {
            "queued": sum(1 for job in jobs if job.status == "queued"),
            "running": sum(1 for job in jobs if job.status == "running"),
        }

    async def aclose(self) -> None:
        for task in [*self._workers, *self._retry_timers]:
            task.cancel()
        for task in [*self._workers, *self._retry_timers]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    async def _work(self) -> None:
        while True:
            job_id = await self._ready.get()
            job = self._jobs.get(job_id)
            if job is not None and job.status == "queued":
                await self._attempt(job)

    async def _attempt(self, job: _Job) -> None:
        job.status = "running"
        job.attempts += 1

        async def report(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            async with asyncio.timeout(job.timeout_s):
                result = await self._execute(
                    name=job.name,
                    payload=job.payload,
                    job_id=job.id,
                    attempt=job.attempts,
                    report=report,
                )
        except asyncio.CancelledError:
            job.status = "queued"  # shutting down: not lost while this process lives on
            raise
        except Exception as exc:
            log.warning(
                "job attempt failed",
                extra={"job_id": job.id, "job": job.name, "attempt": job.attempts},
                exc_info=not isinstance(exc, JobError),
            )
            job.error = public_error(exc)
            retryable = not (isinstance(exc, JobError) and not exc.retry)
            if retryable and job.attempts <= job.retries:
                job.status = "queued"
                self._retry_later(job.id, self.retry_delay(job.attempts))
            else:
                job.status = "failed"
                job.finished_at = time.monotonic()
            return
        job.status, job.result, job.error = "complete", result, None
        job.finished_at = time.monotonic()

    def _retry_later(self, job_id: str, delay_s: float) -> None:
        async def requeue() -> None:
            await asyncio.sleep(delay_s)
            self._ready.put_nowait(job_id)

        timer = asyncio.create_task(requeue())
        self._retry_timers.add(timer)
        timer.add_done_callback(self._retry_timers.discard)

    def _forget_old(self) -> None:
        """Finished jobs stay readable JOBS_RESULT_TTL_SECONDS, then go (bounded memory)."""
        horizon = time.monotonic() - self._result_ttl_s
        stale = [
            job_id
            for job_id, job in self._jobs.items()
            if job.finished_at is not None and job.finished_at < horizon
        ]
        for job_id in stale:
            del self._jobs[job_id]
