"""With Redis, jobs outlive their processes: a SIGKILLed server's job completes after a
restart, and `python -m server.worker` alone runs the jobs an API instance queued."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from server.jobs import JobQueue, build_job_queue
from tests.conftest import make_settings
from tests.realtime.conftest import ROOT, ServerProcess, register

HANDLERS = "tests.jobs.handlers:register_jobs"


@pytest.fixture
async def jobs_redis(redis_url: str) -> AsyncIterator[str]:
    url = redis_url.rsplit("/", 1)[0] + "/8"
    client = Redis.from_url(url)
    await client.flushdb()
    await client.aclose()
    yield url


@pytest.fixture
async def producer(jobs_redis: str, tmp_path: Path) -> AsyncIterator[JobQueue]:
    """A queue in the test process that only enqueues and reads (no workers), like an API
    instance with JOBS_IN_PROCESS=false."""
    queue = build_job_queue(
        make_settings("mongodb://unused", tmp_path, redis_url=jobs_redis), run_workers=False
    )
    await queue.start(None)
    yield queue
    await queue.aclose()


def server(mongo_url: str, jobs_redis: str, data_dir: Path, db: str, **env: str) -> ServerProcess:
    return ServerProcess(
        mongo_url=mongo_url,
        db=db,
        data_dir=data_dir,
        REDIS_URL=jobs_redis,
        JOBS_EXTRA_HANDLERS=HANDLERS,
        JOBS_HEARTBEAT_SECONDS="2",
        JOBS_RETRY_DELAY_SECONDS="0.2",
        **env,
    )


async def poll_api(
    instance: ServerProcess, job_id: str, auth: dict[str, str], until: Any, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    async with instance.rest() as client:
        while True:
            response = await client.get(f"/jobs/{job_id}", headers=auth)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if until(body):
                return body
            if time.monotonic() > deadline:
                pytest.fail(f"job is {body}\n{instance.log_tail()}")
            await asyncio.sleep(0.1)


async def test_a_job_survives_a_sigkill_of_the_server(
    mongo_url: str, jobs_redis: str, producer: JobQueue, tmp_path: Path
) -> None:
    db = f"t_{uuid.uuid4().hex[:12]}"
    first = await server(mongo_url, jobs_redis, tmp_path, db).start()
    try:
        learner = await register(first)
        job_id = await producer.enqueue(
            "test.steps",
            {"steps": 20, "step_s": 0.25, "owner_id": learner.id},
            retries=3,
        )
        mid = await poll_api(
            first, job_id, learner.headers, lambda body: body["progress"]["done"] >= 3
        )
        assert mid["status"] == "running" and mid["attempts"] == 1
    finally:
        assert first.proc is not None
        first.proc.kill()  # SIGKILL: no shutdown, no cleanup, the job is left "running"
        first.proc.wait(10)
    left = await producer.get(job_id)
    assert left is not None and left.status == "running" and left.progress.done < 20

    second = await server(mongo_url, jobs_redis, tmp_path, db).start()
    try:
        done = await poll_api(
            second, job_id, learner.headers, lambda body: body["status"] in ("complete", "failed")
        )
        assert done["status"] == "complete", second.log_tail()
        assert done["attempts"] == 2
        assert done["result"] == {"steps": 20, "attempt": 2}
        assert done["progress"] == {"done": 20, "total": 20}
    finally:
        await second.stop()


async def test_a_worker_process_alone_runs_the_jobs(
    mongo_url: str, jobs_redis: str, producer: JobQueue, tmp_path: Path
) -> None:
    db = f"t_{uuid.uuid4().hex[:12]}"
    api = await server(mongo_url, jobs_redis, tmp_path, db, JOBS_IN_PROCESS="false").start()
    worker: subprocess.Popen[bytes] | None = None
    log_path = tmp_path / "worker.log"
    try:
        learner = await register(api)
        job_id = await producer.enqueue(
            "test.steps", {"steps": 3, "step_s": 0.05, "owner_id": learner.id}
        )
        await asyncio.sleep(1.5)
        waiting = await producer.get(job_id)
        assert waiting is not None and waiting.status == "queued"  # no instance runs jobs

        with log_path.open("wb") as log:
            worker = subprocess.Popen(  # noqa: ASYNC220 - start-up only
                [sys.executable, "-m", "server.worker", "--concurrency", "2"],
                cwd=ROOT,
                env=api.env | {"JOBS_IN_PROCESS": "false"},
                stdout=log,
                stderr=log,
            )
        done = await poll_api(
            api, job_id, learner.headers, lambda body: body["status"] == "complete", timeout=60
        )
        assert done["result"] == {"steps": 3, "attempt": 1}
    finally:
        if worker is not None:
            worker.terminate()
            code = await asyncio.to_thread(worker.wait, 20)
            assert code == 0, log_path.read_text(errors="replace")[-3000:]
        await api.stop()
