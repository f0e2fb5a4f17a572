from __future__ import annotations

from fastapi import APIRouter, Response, status

from server.auth import service
from server.auth.schemas import AuthResponse, LoginRequest, RefreshRequest, RegisterRequest
from server.deps import ClientAddress, State
from server.schemas import error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(
        {
            409: "`email_taken`: an account with this email exists.",
            422: "`org_not_joinable`: `org_slug` names no organization open to sign-up.",
            429: "`rate_limited`: too many sign-ups from this address.",
        }
    ),
)
async def register(body: RegisterRequest, state: State, client: ClientAddress) -> AuthResponse:
    return await service.register(state=state, body=body, client=client)


@router.post(
    "/login",
    responses=error_responses(
        {
            401: "`invalid_credentials`: the email or the password is wrong.",
            403: "`account_disabled`: an admin disabled this account.",
            429: "`too_many_login_attempts` (this account) or `rate_limited` (this address).",
        }
    ),
)
async def login(body: LoginRequest, state: State, client: ClientAddress) -> AuthResponse:
    return await service.login(state=state, body=body, client=client)


@router.post(
    "/refresh",
    responses=error_responses(
        {
            401: "`invalid_token`, `token_expired`, `refresh_token_reused` (the whole session "
            "ends) or `session_revoked`."
        }
    ),
)
async def refresh(body: RefreshRequest, state: State) -> AuthResponse:
    return await service.refresh(state=state, refresh_token=body.refresh_token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses({401: "`invalid_token` or `token_expired`."}),
)
async def logout(body: RefreshRequest, state: State) -> Response:
    await service.logout(state=state, refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
