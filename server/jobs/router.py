"""`GET /jobs/{job_id}`: a background job's state, for its owner only."""

from __future__ import annotations

from fastapi import APIRouter

from server.deps import CurrentUser, State
from server.errors import NotFound
from server.jobs.schemas import JobPublic
from server.schemas import error_responses

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get(
    "/{job_id}",
    summary="A background job's status, progress and result",
    responses=error_responses(
        {404: "`job_not_found`: no such job, one that expired, or another user's."}
    ),
)
async def get_job(job_id: str, user: CurrentUser, state: State) -> JobPublic:
    info = await state.jobs.get(job_id)
    # Someone else's job, or one with no owner (a system job), is not found: never 403.
    if info is None or info.owner_id is None or info.owner_id != str(user.id):
        raise NotFound("No such job.", code="job_not_found")
    return JobPublic.of(info)
