"""Durable jobs on Redis through saq (MIT; docs/JOBS.md says why saq).

How a job survives a SIGKILL of every instance: the job record, the queue and the list of
running jobs live in Redis (keys `saq:starguide:*` and `saq:job:starguide:*`). While a handler
runs, its worker touches the record every third of JOBS_HEARTBEAT_SECONDS; a job that has not
been touched for that long is "stuck" and the next sweep (any worker, at most one sweep per
interval across the cluster, a Redis lock) queues it again as a retry with backoff. So after a
crash the job runs again once some worker is up, at the latest a heartbeat plus a sweep
interval later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from saq import Job, Status
from saq.queue.redis import RedisQueue
from saq.types import PartialTimersDict
from saq.utils import now, seconds
from saq.worker import Worker

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
    valid_job_id,
)

QUEUE_NAME = "starguide"
# The one saq function: it looks the handler up by our job name at run time, so handlers
# registered after the worker started (tests, plugins) run too.
_DISPATCH = "starguide.jobs.run"
_LOST = "worker lost"

_STATUS: dict[Status, JobStatus] = {
    Status.NEW: "queued",
    Status.QUEUED: "queued",
    Status.ACTIVE: "running",
    Status.ABORTING: "running",
    Status.COMPLETE: "complete",
    Status.FAILED: "failed",
    Status.ABORTED: "failed",
}


class _SweptQueue(RedisQueue):
    """saq's queue with a sweep that only takes jobs that are really lost.

    saq's own sweep also takes any job in the `active` list whose record does not say
    `active` yet, which a worker that has just dequeued it (and is about to mark it) also
    shows: with a sweep every second that race is hit, and the job then runs twice. Here a job
    is lost only when its record has not been touched for a heartbeat, whatever its status.
    """

    sweep_lock_s: int = 60
    heartbeat_s: int = 30

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        if not self._cleanup_script:
            self._cleanup_script = self.redis.register_script(_SWEEP_SCRIPT)
        id_jobs = await self._cleanup_script(
            keys=[self._sweep, self._active], args=[self.sweep_lock_s], client=self.redis
        )
        swept: list[str] = []
        for job_id, job_bytes in id_jobs:
            job = self.deserialize(job_bytes)
            if job is None:  # the record expired: drop the id
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.lrem(self._active, 0, job_id)
                    pipe.zrem(self._incomplete, job_id)
                    await pipe.execute()
                swept.append(job_id.decode())
                continue
            # A record is touched when queued again, started, beating or reporting progress.
            last_sign_of_life = max(job.touched, job.started, job.queued)
            if seconds(now() - last_sign_of_life) <= self.heartbeat_s and not job.stuck:
                continue
            log.warning("job lost with its worker: queued again", extra={"job_id": job.key})
            swept.append(job_id.decode())
            await self.abort(job, error=_LOST)
            if job.retryable:
                await self.retry(job, error=_LOST)
            else:
                await self.finish(job, Status.FAILED, error=_LOST)
        return swept


# saq's: under a cluster-wide lock (one sweep per interval), the running jobs' ids and records.
_SWEEP_SCRIPT = """
local id_jobs = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SETEX', KEYS[1], ARGV[1], 1)
    for i, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
        id_jobs[i] = {v, redis.call('GET', v)}
    end
end
return id_jobs
"""


class _SaqLogFilter(logging.Filter):
    """saq's log lines, held to our rule of one line per outage (issue 14), not one a second.

    - "Some tasks did not finish within the shutdown grace period": every stop says it, as
      the worker's own upkeep loops are still sleeping; we stop the worker on purpose and a
      running attempt is queued again (`aclose`). Dropped.
    - "Upkeep task failed unexpectedly" with a traceback, each second while Redis is away:
      kept once per kind of error a minute, as one line without the traceback.
    """

    QUIET_S = 60.0

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        if message.startswith("Some tasks did not finish within the shutdown grace period"):
            return False
        if message.startswith("Upkeep task failed"):
            error = record.exc_info[1] if record.exc_info else None
            kind = type(error).__name__ if error is not None else "unknown"
            now = time.monotonic()
            if now - self._last.get(kind, -self.QUIET_S) < self.QUIET_S:
                return False
            self._last[kind] = now
            record.msg, record.args = (
                "job worker upkeep failed: %s (again within a minute: not logged)",
                (kind,),
            )
            record.exc_info, record.exc_text = None, None
        return True


_SAQ_LOG_FILTER = _SaqLogFilter()


class _EmbeddedWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The server's (uvicorn's) or server.worker's own signal handling stays in charge.
        self.SIGNALS = []


class DurableJobQueue(JobQueue):
    def __init__(
        self,
        *,
        redis_url: str,
        run_workers: bool,
        concurrency: int,
        heartbeat_s: int,
        retry_delay_s: float,
        retry_max_delay_s: float,
        result_ttl_s: int,
        connect_timeout_s: float,
    ) -> None:
        super().__init__(retry_delay_s=retry_delay_s, retry_max_delay_s=retry_max_delay_s)
        saq_log = logging.getLogger("saq")
        if _SAQ_LOG_FILTER not in saq_log.filters:
            saq_log.addFilter(_SAQ_LOG_FILTER)
        # A client of its own: the worker blocks on BLMOVE, which the app's client's socket
        # timeout would cut.
        self._redis: Redis = Redis.from_url(redis_url, socket_connect_timeout=connect_timeout_s)
        self._queue = _SweptQueue(self._redis, name=QUEUE_NAME, swept_error_message=_LOST)
        self._sweep_s = max(1, heartbeat_s // 2)
        self._queue.sweep_lock_s = self._sweep_s
        self._queue.heartbeat_s = heartbeat_s
        self._run_workers = run_workers
        self._concurrency = concurrency
        self._heartbeat_s = heartbeat_s
        self._result_ttl_s = result_ttl_s
        self._worker: Worker | None = None
        self._worker_task: asyncio.Task[None] | None = None

    async def start(self, state: Any) -> None:
        self._state = state
        await self._queue.connect()
        if self._run_workers and self._worker is None:
            timers: PartialTimersDict = {
                "sweep": self._sweep_s,
                "abort": 1,
                "schedule": 1,
                "worker_info": 10,
            }
            self._worker = _EmbeddedWorker(
                self._queue,
                functions=[(_DISPATCH, self._dispatch)],
                concurrency=self._concurrency,
                timers=timers,
            )
            self._worker_task = asyncio.create_task(self._worker.start(), name="job-worker")

    async def enqueue(
        self,
        name: str,
        payload: dict[str, Any],
        *,
        key: str | None = None,
        retries: int = 3,
        timeout_s: float = 300,
    ) -> str:
        job_id = new_job_id(name, key)
        job = Job(
            function=_DISPATCH,
            kwargs={"name": name, "payload": payload},
            key=job_id,
            retries=max(0, retries) + 1,  # saq counts attempts, we count retries
            timeout=timeout_s,  # type: ignore[arg-type]  # saq accepts seconds as a float
            heartbeat=self._heartbeat_s,
            ttl=self._result_ttl_s,
            retry_delay=self.retry_delay(1),
            meta={"done": 0, "total": 0, "owner_id": owner_of(payload)},
        )
        # None when a job with this id is queued or running (saq's atomic enqueue script): the
        # caller gets that job's id, the dedupe the interface promises.
        await self._queue.enqueue(job)
        return job_id

    async def get(self, job_id: str) -> JobInfo | None:
        if not valid_job_id(job_id):
            return None
        job = await self._queue.job(job_id)
        if job is None or job.function != _DISPATCH:
            return None
        meta = job.meta or {}
        kwargs = job.kwargs or {}
        return JobInfo(
            id=job.key,
            name=str(kwargs.get("name", "")),
            status=_STATUS.get(job.status, "queued"),
            progress=JobProgress(done=int(meta.get("done", 0)), total=int(meta.get("total", 0))),
            result=job.result if isinstance(job.result, dict) else None,
            error=_error_text(job),
            attempts=job.attempts,
            owner_id=meta.get("owner_id"),
        )

    async def counts(self) -> dict[str, int]:
        # Two list lengths in Redis: saq's queued and active lists, shared by every instance.
        return {
            "queued": await self._queue.count("queued"),
            "running": await self._queue.count("active"),
        }

    async def aclose(self) -> None:
        # Shutting down while Redis is away must still shut down: what saq could not write
        # back (a running attempt queued again) its sweep recovers once Redis returns.
        if self._worker is not None:
            running = len(self._worker.job_task_contexts)
            if running:  # said here, as saq's own warning is filtered out (`_SaqLogFilter`)
                log.info("stopping the job worker: %d running job(s) will run again", running)
            try:
                # Running attempts are cancelled and queued again by saq ("cancelled").
                await self._worker.stop()
            except RedisError as exc:
                log.warning("job worker stopped without Redis: %s", type(exc).__name__)
        if self._worker_task is not None:
            self._worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError):
                await self._worker_task
        self._worker = self._worker_task = None
        with contextlib.suppress(RedisError):
            await self._queue.disconnect()
        await self._redis.aclose()

    async def _dispatch(self, ctx: dict[str, Any], *, name: str, payload: dict[str, Any]) -> Any:
        job: Job = ctx["job"]
        # Stored with the next write (heartbeat, progress, finish): the backoff of the retry
        # that follows this attempt if it fails, raises, times out or loses its worker.
        job.retry_delay = self.retry_delay(job.attempts)
        job.meta = {**(job.meta or {}), "error": None}

        async def report(done: int, total: int) -> None:
            job.meta = {**(job.meta or {}), "done": done, "total": total}
            await job.update(meta=job.meta, progress=(done / total) if total else 0.0)

        beat = asyncio.create_task(self._beat(job))
        try:
            return await self._execute(
                name=name, payload=payload, job_id=job.key, attempt=job.attempts, report=report
            )
        except Exception as exc:
            log.warning(
                "job attempt failed",
                extra={"job_id": job.key, "job": name, "attempt": job.attempts},
                exc_info=not isinstance(exc, JobError),
            )
            if isinstance(exc, JobError) and not exc.retry:
                job.retries = job.attempts  # not retryable: saq finishes it as failed
            job.meta = {**(job.meta or {}), "error": public_error(exc)}
            raise
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _beat(self, job: Job) -> None:
        while True:
            await asyncio.sleep(max(0.5, self._heartbeat_s / 3))
            with contextlib.suppress(Exception):  # a missed beat is retried by the next one
                await job.update()


def _error_text(job: Job) -> str | None:
    """What the owner may see: saq keeps a traceback in `job.error`; we show our own short text
    (set by `_dispatch`), or say what happened around the handler."""
    if job.status == Status.COMPLETE or not job.error:
        return None
    meta_error = (job.meta or {}).get("error")
    if meta_error:
        return str(meta_error)
    if job.error == _LOST:
        return _LOST
    if "TimeoutError" in job.error:
        return "timed out"
    return "interrupted"
