from __future__ import annotations

from fastapi import APIRouter

from server.deps import CurrentUser
from server.users import service
from server.users.schemas import UserPublic, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me")
async def get_me(user: CurrentUser) -> UserPublic:
    return UserPublic.from_doc(user)


@router.patch("/me")
async def patch_me(body: UserUpdate, user: CurrentUser) -> UserPublic:
    return UserPublic.from_doc(await service.update_me(user=user, update=body))
