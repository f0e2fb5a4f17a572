"""Study group routes; thin, the rules are in the service. A group's members with their
progress is a read model above the features: `server.dashboards.router`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from server.deps import CurrentUser, State
from server.groups import service
from server.groups.schemas import (
    GroupCreate,
    GroupJoin,
    GroupPage,
    GroupPublic,
)
from server.schemas import PAGED, error_responses

router = APIRouter(prefix="/groups", tags=["study groups"])
_NOT_FOUND = error_responses({404: "`group_not_found`."})


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a study group (mentors and admins) with its shared conversation",
    responses=error_responses(
        {
            403: "`forbidden`: only mentors and admins create study groups.",
            409: "`invite_code_taken`: no free invite code was found; try again.",
        }
    ),
)
async def create_group(body: GroupCreate, user: CurrentUser) -> GroupPublic:
    group = await service.create(user=user, body=body)
    return GroupPublic.from_doc(group, show_code=True)


@router.get("", summary="The caller's study groups, newest first", responses=PAGED)
async def list_groups(
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> GroupPage:
    groups, next_cursor = await service.list_mine(user=user, limit=limit, cursor=cursor)
    items = [GroupPublic.from_doc(g, show_code=service.can_manage(user, g)) for g in groups]
    return GroupPage(items=items, next_cursor=next_cursor)


@router.post(
    "/join",
    summary="Join a study group of your organization with its invite code",
    responses=error_responses(
        {404: "`group_not_found`: no group of your organization has this code."}
    ),
)
async def join_group(body: GroupJoin, user: CurrentUser) -> GroupPublic:
    group = await service.join(user=user, body=body)
    return GroupPublic.from_doc(group, show_code=service.can_manage(user, group))


@router.get(
    "/{group_id}",
    summary="A study group (members and the organization's admins)",
    responses=_NOT_FOUND,
)
async def get_group(group_id: str, user: CurrentUser) -> GroupPublic:
    group = await service.get_visible(user=user, group_id=group_id)
    return GroupPublic.from_doc(group, show_code=service.can_manage(user, group))


@router.delete(
    "/{group_id}/members/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Leave a study group",
    responses=_NOT_FOUND
    | error_responses({409: "`owner_cannot_leave`: the group's creator cannot leave it."}),
)
async def leave_group(group_id: str, user: CurrentUser, state: State) -> Response:
    await service.leave(user=user, group_id=group_id, cluster=state.cluster)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
