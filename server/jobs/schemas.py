"""The job as the API shows it to its owner."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from server.jobs.base import JobInfo, JobProgress, JobStatus


class JobPublic(BaseModel):
    id: str
    name: str
    status: JobStatus = Field(
        description=(
            "`queued` (waiting, or waiting for a retry after a failed attempt), `running`, "
            "`complete` (`result` set) or `failed` (retries spent, timed out, or a permanent "
            "error; `error` says which)."
        )
    )
    progress: JobProgress
    result: dict[str, Any] | None = None
    error: str | None = None
    attempts: int

    @classmethod
    def of(cls, info: JobInfo) -> JobPublic:
        return cls.model_validate(info.model_dump(exclude={"owner_id"}))
