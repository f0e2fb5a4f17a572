from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Response, status

from server.auth import claim, reset, service
from server.auth.schemas import (
    AuthResponse,
    ChangePasswordRequest,
    ClaimRequest,
    ForgotPasswordAccepted,
    ForgotPasswordRequest,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    ResetPasswordRequest,
)
from server.deps import ClientAddress, CurrentSession, State
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


@router.post(
    "/password/forgot",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses({429: "`rate_limited`: too many reset requests from this address."}),
)
async def forgot_password(
    body: ForgotPasswordRequest, state: State, client: ClientAddress, background: BackgroundTasks
) -> ForgotPasswordAccepted:
    """202 whatever the email, with one fixed JSON body (REST answers are JSON, and clients
    that read every body as JSON must not trip): the mail, if any, is prepared after the
    answer has gone."""
    await state.client_limits.password_reset.hit(client)
    background.add_task(reset.send_reset_mail, state=state, email=str(body.email))
    return ForgotPasswordAccepted()


@router.post(
    "/password/reset",
    responses=error_responses(
        {
            400: "`invalid_reset_token`: unknown, already used or expired.",
            403: "`account_disabled`: an admin disabled this account.",
            429: "`rate_limited`: too many reset requests from this address.",
        }
    ),
)
async def reset_password(
    body: ResetPasswordRequest, state: State, client: ClientAddress
) -> AuthResponse:
    return await reset.reset_password(
        state=state, token=body.token, new_password=body.new_password, client=client
    )


@router.post(
    "/claim",
    responses=error_responses(
        {
            400: "`invalid_claim_token`: unknown, already used or expired.",
            403: "`account_disabled`: an admin disabled this account.",
            409: "`email_taken`: another account has the invited email now.",
            429: "`rate_limited`: too many attempts from this address.",
        }
    ),
)
async def claim_account(body: ClaimRequest, state: State, client: ClientAddress) -> AuthResponse:
    """Takes over an imported account with the mailed claim token: the invited email and
    this password from now on, the same account (memory, history, progress) as before."""
    return await claim.claim(
        state=state,
        token=body.token,
        password=body.password,
        display_name=body.display_name,
        client=client,
    )


@router.post(
    "/password/change",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(
        {
            401: "`missing_token`, `invalid_token`, `token_expired` or `session_revoked`.",
            422: "`invalid_current_password`: the current password is wrong.",
            429: "`too_many_login_attempts` or `rate_limited`: too many wrong passwords.",
        }
    ),
)
async def change_password(
    body: ChangePasswordRequest, state: State, session: CurrentSession, client: ClientAddress
) -> Response:
    user, family_id = session
    await reset.change_password(
        state=state,
        user=user,
        family_id=family_id,
        current_password=body.current_password,
        new_password=body.new_password,
        client=client,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
