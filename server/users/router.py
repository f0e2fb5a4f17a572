from __future__ import annotations

from fastapi import APIRouter

from server.deps import CurrentUser
from server.memory import service as memory
from server.users import service
from server.users.schemas import UserPublic, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me")
async def get_me(user: CurrentUser) -> UserPublic:
    return UserPublic.from_doc(user, await memory.weak_topics(user.id))


@router.patch("/me")
async def patch_me(body: UserUpdate, user: CurrentUser) -> UserPublic:
    updated = await service.update_me(user=user, update=body)
    return UserPublic.from_doc(updated, await memory.weak_topics(user.id))
