"""Single sign-on routes (docs/ACCOUNTS.md, "Single sign-on"). Thin: `server.auth.oidc`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse

from server.auth import oidc
from server.auth.oidc_schemas import LoginCodeRequest, OidcProviderList, OidcProviderPublic
from server.auth.schemas import AuthResponse
from server.deps import ClientAddress, State
from server.schemas import Responses, error_responses

router = APIRouter(prefix="/auth/oidc", tags=["auth"])
_NO_STORE = {"Cache-Control": "no-store"}
# What the callback reads of the provider's answer (RFC 6749 §4.1.2, RFC 9207's `iss`).
_CALLBACK_PARAMS = frozenset({"state", "code", "error", "iss"})
_UNKNOWN_PROVIDER = {404: "`oidc_provider_not_found`: no provider of that name is configured."}
_REDIRECT: Responses = {
    status.HTTP_302_FOUND: {"description": "To the provider, or back to the app."}
}


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND, headers=_NO_STORE)


@router.get("/providers", summary="The OpenID providers one can sign in with")
async def list_providers(state: State) -> OidcProviderList:
    return OidcProviderList(items=[OidcProviderPublic(name=n) for n in state.oidc.names()])


@router.get(
    "/{name}/login",
    summary="Start a sign-in: 302 to the provider (authorization code flow, PKCE)",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses=_REDIRECT
    | error_responses(
        {
            **_UNKNOWN_PROVIDER,
            422: "`redirect_uri_not_allowed`: not on the origin of `PUBLIC_URL` or of one of "
            "`CORS_ORIGINS`.",
            429: "`rate_limited`: too many login attempts from this address.",
            503: "`dependency_unavailable`: the provider cannot be reached.",
        }
    ),
)
async def login(
    name: str,
    state: State,
    client: ClientAddress,
    redirect_uri: Annotated[str, Query(min_length=1, max_length=2000)],
) -> RedirectResponse:
    url = await oidc.start_login(state=state, name=name, redirect_uri=redirect_uri, client=client)
    return _redirect(url)


@router.get(
    "/{name}/callback",
    summary="Where the provider returns: 302 to `redirect_uri?login_code=` (or `?error=`)",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses=_REDIRECT
    | error_responses(
        {
            **_UNKNOWN_PROVIDER,
            400: "`invalid_oidc_state`: the state is unknown, used or expired (then nothing "
            "says where the browser may safely go; every later failure is a redirect with "
            "`?error=`).",
        }
    ),
)
async def callback(name: str, request: Request, state: State) -> RedirectResponse:
    """The provider's query (`state`, `code`, or `error`), read as plain strings: whatever
    it holds, the answer is a redirect or the 400 above, never a 422."""
    params = {k: v[:4096] for k, v in request.query_params.items() if k in _CALLBACK_PARAMS}
    return _redirect(await oidc.finish_login(state=state, name=name, params=params))


@router.post(
    "/exchange",
    summary="Trade a one-time login code for a session (the auth answer)",
    responses=error_responses(
        {
            400: "`invalid_login_code`: unknown, used or older than 60 seconds.",
            403: "`account_disabled`: an admin disabled this account.",
        }
    ),
)
async def exchange(body: LoginCodeRequest, state: State) -> AuthResponse:
    return await oidc.exchange(state=state, login_code=body.login_code)
