"""`Annotated` dependency aliases shared by the routers."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from beanie import PydanticObjectId
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from models import User
from models.user import Role
from server.auth import sessions
from server.errors import Forbidden, Unauthorized
from server.state import AppState
from server.users import service as users_service

_bearer = HTTPBearer(auto_error=False)


async def get_state(request: Request) -> AppState:
    # `async def` on purpose, here and below: FastAPI runs a plain `def` dependency in a
    # worker thread, which cost more CPU per request than the whole auth check.
    state: AppState = request.app.state.ctx
    return state


State = Annotated[AppState, Depends(get_state)]


async def client_address(request: Request, state: State) -> str:
    """The caller's address for per-client limits (`server.auth.clients`); sockets use
    `state.trusted_proxies.from_scope(environ["asgi.scope"])`, the same rule."""
    return state.trusted_proxies.from_scope(request.scope)


ClientAddress = Annotated[str, Depends(client_address)]


async def authenticate(state: AppState, token: str) -> tuple[User, dict[str, Any]]:
    """Shared by REST and the socket gateway: a valid access token of a session that has not
    ended (401 `session_revoked`, checked before the user is read), of an enabled user, with
    its claims (the gateway keeps `exp` and the login session `fid`)."""
    claims = state.tokens.decode(token, expected_type="access")
    await sessions.ensure_live(state, claims)
    try:
        user_id = PydanticObjectId(claims["sub"])
    except Exception as exc:
        raise Unauthorized("The token is invalid.", code="invalid_token") from exc
    # Cached, invalidated on every instance by each write of the account (server/lookups.py).
    user = await users_service.cached_user(user_id=user_id)
    if user is None or user.disabled:
        raise Unauthorized("The account is not available.", code="invalid_token")
    return user, claims


async def user_from_access_token(state: AppState, token: str) -> User:
    user, _ = await authenticate(state, token)
    return user


async def get_current_user(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer access token is required.", code="missing_token")
    return await user_from_access_token(state, credentials.credentials)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_current_session(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[User, str | None]:
    """The caller and its login session (`fid`), for routes that end the user's other sessions."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer access token is required.", code="missing_token")
    user, claims = await authenticate(state, credentials.credentials)
    family_id = claims.get("fid")
    return user, family_id if isinstance(family_id, str) else None


CurrentSession = Annotated[tuple[User, str | None], Depends(get_current_session)]


def require_role(*roles: Role) -> Callable[..., Coroutine[Any, Any, User]]:
    """One reusable role check: `Depends(require_role("admin"))`."""

    async def checker(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden("Your role does not allow this.", code="forbidden")
        return user

    return checker


AdminUser = Annotated[User, Depends(require_role("admin"))]
