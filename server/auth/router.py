from __future__ import annotations

from fastapi import APIRouter, Response, status

from server.auth import service
from server.auth.schemas import AuthResponse, LoginRequest, RefreshRequest, RegisterRequest
from server.deps import State

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(body: RegisterRequest, state: State) -> AuthResponse:
    return await service.register(state=state, body=body)


@router.post("/login")
async def login(body: LoginRequest, state: State) -> AuthResponse:
    return await service.login(state=state, body=body)


@router.post("/refresh")
async def refresh(body: RefreshRequest, state: State) -> AuthResponse:
    return await service.refresh(state=state, refresh_token=body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, state: State) -> Response:
    await service.logout(state=state, refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
