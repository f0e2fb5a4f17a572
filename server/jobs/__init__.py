"""Background jobs: durable on Redis when REDIS_URL is set, in-process otherwise (docs/JOBS.md)."""

from __future__ import annotations

import importlib

from server.config import Settings
from server.jobs.base import (
    Handler,
    JobContext,
    JobError,
    JobInfo,
    JobProgress,
    JobQueue,
    JobRegistration,
    UnknownJob,
    log,
)

__all__ = [
    "Handler",
    "JobContext",
    "JobError",
    "JobInfo",
    "JobProgress",
    "JobQueue",
    "JobRegistration",
    "UnknownJob",
    "build_job_queue",
    "load_extra_registrations",
]


def build_job_queue(settings: Settings, *, run_workers: bool | None = None) -> JobQueue:
    """The queue for these settings. `run_workers` overrides JOBS_IN_PROCESS (the separate
    worker always runs them)."""
    workers = settings.jobs_in_process if run_workers is None else run_workers
    if settings.redis_url:
        from server.jobs.durable import DurableJobQueue

        return DurableJobQueue(
            redis_url=settings.redis_url,
            run_workers=workers,
            concurrency=settings.jobs_concurrency,
            heartbeat_s=settings.jobs_heartbeat_seconds,
            retry_delay_s=settings.jobs_retry_delay_seconds,
            retry_max_delay_s=settings.jobs_retry_max_delay_seconds,
            result_ttl_s=settings.jobs_result_ttl_seconds,
            connect_timeout_s=settings.dependency_timeout_seconds,
        )
    from server.jobs.local import InProcessJobQueue

    if not workers:
        # Nobody else could see these jobs: they run here anyway.
        log.warning("JOBS_IN_PROCESS=false needs REDIS_URL; jobs run in this process")
    return InProcessJobQueue(
        concurrency=settings.jobs_concurrency,
        retry_delay_s=settings.jobs_retry_delay_seconds,
        retry_max_delay_s=settings.jobs_retry_max_delay_seconds,
        result_ttl_s=settings.jobs_result_ttl_seconds,
    )


def load_extra_registrations(paths: list[str]) -> list[JobRegistration]:
    """JOBS_EXTRA_HANDLERS: `package.module:function` entries, each a `register(queue)`, for
    tests and plugins; the product's own handlers are in server.app.JOB_HANDLERS."""
    registrations: list[JobRegistration] = []
    for path in paths:
        module_name, _, attr = path.partition(":")
        registration = getattr(importlib.import_module(module_name), attr or "register_jobs")
        registrations.append(registration)
    return registrations
