"""The job queue's behaviour, the same with Redis (saq, durable) and without (in-process)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from server.jobs import JobInfo, JobQueue, UnknownJob, build_job_queue
from tests.conftest import make_settings
from tests.jobs import handlers


def jobs_redis_url(redis_url: str) -> str:
    """A database of its own on the session's redis-server (the subprocess tests use another)."""
    return redis_url.rsplit("/", 1)[0] + "/7"


@pytest.fixture(params=["in-process", "redis"])
async def queue(
    request: pytest.FixtureRequest, redis_url: str, tmp_path: Path
) -> AsyncIterator[JobQueue]:
    overrides: dict[str, Any] = {
        "jobs_retry_delay_seconds": 0.2,
        "jobs_heartbeat_seconds": 2,
    }
    if request.param == "redis":
        url = jobs_redis_url(redis_url)
        client = Redis.from_url(url)
        await client.flushdb()
        await client.aclose()
        overrides["redis_url"] = url
    settings = make_settings("mongodb://unused", tmp_path, **overrides)
    jobs = build_job_queue(settings)
    handlers.register_jobs(jobs)
    await jobs.start(None)
    try:
        yield jobs
    finally:
        await jobs.aclose()


async def wait_for(
    jobs: JobQueue, job_id: str, statuses: tuple[str, ...] = ("complete", "failed"), timeout=15.0
) -> JobInfo:
    deadline = time.monotonic() + timeout
    while True:
        info = await jobs.get(job_id)
        assert info is not None
        if info.status in statuses:
            return info
        assert time.monotonic() < deadline, f"job still {info.status}: {info}"
        await asyncio.sleep(0.05)


async def test_a_job_completes_with_its_progress_and_result(queue: JobQueue) -> None:
    job_id = await queue.enqueue("test.steps", {"steps": 4, "step_s": 0.05, "owner_id": "u1"})
    running = await wait_for(queue, job_id, ("running",))
    assert running.name == "test.steps"
    done = await wait_for(queue, job_id)
    assert done.status == "complete"
    assert done.progress.done == 4 and done.progress.total == 4
    assert done.result == {"steps": 4, "attempt": 1}
    assert done.attempts == 1 and done.error is None
    assert done.owner_id == "u1"


async def test_a_failed_attempt_is_retried_with_backoff(queue: JobQueue) -> None:
    job_id = await queue.enqueue("test.flaky", {"fail_times": 2}, retries=3)
    info = await wait_for(queue, job_id)
    assert info.status == "complete", info
    assert info.result == {"attempt": 3} and info.attempts == 3
    starts = handlers.ATTEMPT_STARTS[job_id]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # Base 0.2 s doubling, jitter down to half: at least 0.1 s, then at least 0.2 s.
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19, gaps


async def test_a_job_fails_when_its_retries_are_spent(queue: JobQueue) -> None:
    job_id = await queue.enqueue("test.flaky", {"fail_times": 9}, retries=1)
    info = await wait_for(queue, job_id)
    assert info.status == "failed" and info.attempts == 2
    # Only the exception's class: its message may carry anything.
    assert info.error == "failed: RuntimeError"


async def test_a_job_that_runs_too_long_fails(queue: JobQueue) -> None:
    job_id = await queue.enqueue("test.sleep", {"seconds": 30}, retries=0, timeout_s=0.5)
    info = await wait_for(queue, job_id)
    assert info.status == "failed" and info.error == "timed out" and info.attempts == 1


async def test_a_permanent_error_is_not_retried(queue: JobQueue) -> None:
    job_id = await queue.enqueue("test.broken", {}, retries=3)
    info = await wait_for(queue, job_id)
    assert info.status == "failed" and info.attempts == 1
    assert info.error == "the file is corrupt"
    assert len(handlers.ATTEMPT_STARTS[job_id]) == 1


async def test_a_key_dedupes_while_the_job_is_queued_or_running(queue: JobQueue) -> None:
    payload = {"steps": 6, "step_s": 0.05}
    first = await queue.enqueue("test.steps", payload, key="doc-1")
    again = await asyncio.gather(
        *(queue.enqueue("test.steps", payload, key="doc-1") for _ in range(5))
    )
    assert set(again) == {first}
    other = await queue.enqueue("test.steps", payload, key="doc-2")
    assert other != first
    info = await wait_for(queue, first)
    assert info.status == "complete" and info.attempts == 1
    await wait_for(queue, other)
    # Finished: the same key queues the work again.
    rerun = await queue.enqueue("test.steps", {"steps": 1}, key="doc-1")
    info = await wait_for(queue, rerun)
    assert info.status == "complete" and info.result == {"steps": 1, "attempt": 1}


async def test_unknown_and_malformed_ids_are_none(queue: JobQueue) -> None:
    assert await queue.get("0" * 32) is None
    assert await queue.get("../../etc") is None


async def test_the_in_process_queue_refuses_an_unknown_job_name(tmp_path: Path) -> None:
    jobs = build_job_queue(make_settings("mongodb://unused", tmp_path))
    with pytest.raises(UnknownJob):
        await jobs.enqueue("no.such.job", {})
    await jobs.aclose()


async def test_the_durable_queue_keeps_its_keys_under_saq(redis_url: str, tmp_path: Path) -> None:
    url = jobs_redis_url(redis_url)
    client = Redis.from_url(url)
    await client.flushdb()
    jobs = build_job_queue(make_settings("mongodb://unused", tmp_path, redis_url=url))
    handlers.register_jobs(jobs)
    await jobs.start(None)
    try:
        job_id = await jobs.enqueue("test.steps", {"steps": 1})
        await wait_for(jobs, job_id)
        keys = [k.decode() if isinstance(k, bytes) else k for k in await client.keys("*")]
        assert keys and all(key.startswith("saq:") for key in keys), keys
    finally:
        await jobs.aclose()
        await client.aclose()


async def test_a_graceful_stop_queues_the_running_job_again(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="starguide.jobs")
    url = jobs_redis_url(redis_url)
    client = Redis.from_url(url)
    await client.flushdb()
    await client.aclose()
    settings = make_settings(
        "mongodb://unused", tmp_path, redis_url=url, jobs_retry_delay_seconds=0.1
    )
    first = build_job_queue(settings)
    handlers.register_jobs(first)
    await first.start(None)
    job_id = await first.enqueue("test.steps", {"steps": 10, "step_s": 0.1})
    await wait_for(first, job_id, ("running",))
    await first.aclose()  # as on SIGTERM: the attempt is cancelled and queued again
    # saq's own warning is filtered out; the stop says what it interrupted instead.
    assert "1 running job(s) will run again" in caplog.text

    second = build_job_queue(settings)
    handlers.register_jobs(second)
    await second.start(None)
    try:
        info = await wait_for(second, job_id)
        assert info.status == "complete" and info.attempts == 2, info
    finally:
        await second.aclose()


async def test_a_stop_logs_no_warning_and_an_outage_one_line_a_minute(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """saq's "did not finish within the shutdown grace period" came with every stop (its own
    upkeep loops), and its upkeep logged a traceback every second while Redis was away."""
    caplog.set_level(logging.INFO)
    url = jobs_redis_url(redis_url)
    jobs = build_job_queue(make_settings("mongodb://unused", tmp_path, redis_url=url))
    handlers.register_jobs(jobs)
    await jobs.start(None)
    job_id = await jobs.enqueue("test.steps", {"steps": 1})
    await wait_for(jobs, job_id)
    await jobs.aclose()
    saq = [r for r in caplog.records if r.name.startswith("saq")]
    assert not [r for r in saq if r.levelno >= logging.WARNING], [r.getMessage() for r in saq]

    # The upkeep's failures, as saq logs them while Redis is down: one line, no traceback.
    # (An error type of this test's own: the filter remembers the kinds it has seen lately,
    # and an earlier outage test may have logged a ConnectionError.)
    class UpkeepProbeError(ConnectionError):
        pass

    saq_log = logging.getLogger("saq")
    caplog.clear()
    for _ in range(5):
        try:
            raise UpkeepProbeError("Error 111 connecting to 127.0.0.1:6379")
        except ConnectionError:
            saq_log.exception("Upkeep task failed unexpectedly")
    lines = [r for r in caplog.records if r.name == "saq"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].getMessage().startswith("job worker upkeep failed: UpkeepProbeError")
    assert lines[0].exc_info is None and "6379" not in caplog.text
