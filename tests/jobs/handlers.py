"""Job handlers for the tests only, registered through JOBS_EXTRA_HANDLERS
(`tests.jobs.handlers:register_jobs`) or directly on a queue."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from server.jobs import JobContext, JobError, JobQueue

# When each attempt of a job started (monotonic seconds), for jobs run in the test process.
ATTEMPT_STARTS: dict[str, list[float]] = {}


async def steps(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """`steps` steps of `step_s` seconds each, reporting progress after each."""
    total = int(payload["steps"])
    for done in range(1, total + 1):
        await asyncio.sleep(float(payload.get("step_s", 0.01)))
        await ctx.progress(done, total)
    return {"steps": total, "attempt": ctx.attempt}


async def flaky(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Fails its first `fail_times` attempts."""
    ATTEMPT_STARTS.setdefault(ctx.job_id, []).append(time.monotonic())
    if ctx.attempt <= int(payload["fail_times"]):
        raise RuntimeError("a private detail that must not be shown")
    return {"attempt": ctx.attempt}


async def sleeper(ctx: JobContext, payload: dict[str, Any]) -> None:
    await asyncio.sleep(float(payload["seconds"]))


async def broken(ctx: JobContext, payload: dict[str, Any]) -> None:
    ATTEMPT_STARTS.setdefault(ctx.job_id, []).append(time.monotonic())
    raise JobError("the file is corrupt", retry=False)


def register_jobs(queue: JobQueue) -> None:
    queue.register("test.steps", steps)
    queue.register("test.flaky", flaky)
    queue.register("test.sleep", sleeper)
    queue.register("test.broken", broken)
