"""Sign-up, login, refresh rotation with reuse detection, logout.

Sessions (what ends one, and how access tokens learn of it) live in `server.auth.sessions`;
throttling of sign-ups and logins in `server.auth.throttle`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from beanie import PydanticObjectId

from models import Profile, User
from server.audit import service as audit_service
from server.auth import sessions
from server.auth.schemas import AuthResponse, LoginRequest, RegisterRequest
from server.auth.tokens import hash_token
from server.errors import Forbidden, Unauthorized
from server.memory import service as memory
from server.orgs import service as orgs_service
from server.state import AppState
from server.users import service as users_service
from server.users.schemas import UserPublic


async def _issue_pair(
    *, state: AppState, user: User, family_id: str, rotation: bool = False
) -> AuthResponse:
    """A new pair in the session `family_id`. On a rotation, the session may have ended
    between spending the old token and storing the new one (a logout or a detected reuse
    revokes the tokens it finds, and the new one was not there yet): the family is checked
    after the insert, so either the revocation caught the new token or this check sees it."""
    assert user.id is not None
    subject = str(user.id)
    refresh = state.tokens.issue(subject=subject, token_type="refresh")
    token_hash = hash_token(refresh.token)
    await sessions.store_refresh_token(
        token_hash=token_hash, family_id=family_id, user_id=user.id, expires_at=refresh.expires_at
    )
    if rotation and await sessions.family_was_revoked(family_id=family_id):
        await sessions.revoke_token(token_hash=token_hash)
        raise sessions.revoked()
    # `fid` ties the access token to its session: ending the session refuses it at once.
    access = state.tokens.issue(subject=subject, token_type="access", role=user.role, fid=family_id)
    return AuthResponse(
        user=UserPublic.from_doc(user, await memory.weak_topics(user.id)),
        access_token=access.token,
        refresh_token=refresh.token,
        expires_in=state.tokens.access_ttl_seconds,
    )


async def start_session(*, state: AppState, user: User) -> AuthResponse:
    """A new login session for `user` (after a password reset, `server.auth.reset`)."""
    return await _issue_pair(state=state, user=user, family_id=uuid.uuid4().hex)


async def register(*, state: AppState, body: RegisterRequest, client: str) -> AuthResponse:
    """`client` is the caller's address (`server.auth.clients`): sign-ups are limited per
    address, counted before any work, duplicates and unjoinable organizations included."""
    await state.client_limits.signup.hit(client)
    if body.org_slug:
        org = await orgs_service.joinable_org(slug=body.org_slug)
    else:
        org = await orgs_service.ensure_default_org(
            slug=state.settings.default_org_slug, name=state.settings.default_org_name
        )
    assert org.id is not None
    # 409 `email_taken` from the unique email index, not from a read first: race-free.
    user = await users_service.create_user(
        email=body.email,
        password_hash=await state.passwords.hash(body.password),
        org_id=org.id,
        profile=Profile(display_name=body.display_name, exam=body.exam),
    )
    await audit_service.record(
        action="user.register",
        actor_id=user.id,
        org_id=org.id,
        target_type="user",
        target_id=str(user.id),
    )
    return await _issue_pair(state=state, user=user, family_id=uuid.uuid4().hex)


async def login(*, state: AppState, body: LoginRequest, client: str | None = None) -> AuthResponse:
    """`client`: the caller's address (None for an in-process caller, e.g. a script)."""
    email = body.email.lower()
    await state.login_throttle.attempt(email, client=client)
    user = await users_service.find_by_email(email=email)
    password_ok = await state.passwords.verify(body.password, user.password_hash if user else None)
    if user is None or not password_ok:
        await audit_service.record(
            action="auth.login",
            outcome="failure",
            actor_id=user.id if user else None,
            org_id=user.org_id if user else None,
            details={"reason": "invalid_credentials"},
        )
        raise Unauthorized("The email or password is incorrect.", code="invalid_credentials")
    if user.disabled:
        await audit_service.record(
            action="auth.login",
            outcome="failure",
            actor_id=user.id,
            org_id=user.org_id,
            details={"reason": "account_disabled"},
        )
        raise Forbidden("This account is disabled.", code="account_disabled")
    await state.login_throttle.succeeded(email, client=client)
    await audit_service.record(action="auth.login", actor_id=user.id, org_id=user.org_id)
    return await _issue_pair(state=state, user=user, family_id=uuid.uuid4().hex)


async def refresh(*, state: AppState, refresh_token: str) -> AuthResponse:
    claims = state.tokens.decode(refresh_token, expected_type="refresh")
    token_hash = hash_token(refresh_token)
    now = datetime.now(UTC)
    spent = await sessions.spend_refresh_token(token_hash=token_hash, now=now)
    stored = await sessions.find_refresh_token(token_hash=token_hash)
    if stored is None:
        raise Unauthorized("The refresh token is invalid.", code="invalid_token")
    if not spent:
        if stored.revoked_at is not None:
            # The session already ended (logout, reuse, disabling): nothing leaked now.
            raise sessions.revoked()
        if stored.used_at is not None:
            # A spent token of a live session presented again means it leaked: end the session.
            await sessions.end_session(
                state, user_id=stored.user_id, family_id=stored.family_id, reason="revoked"
            )
            await audit_service.record(
                action="auth.refresh_reuse",
                outcome="failure",
                actor_id=stored.user_id,
                target_type="token_family",
                target_id=stored.family_id,
            )
            raise Unauthorized("The refresh token was already used.", code="refresh_token_reused")
        raise Unauthorized("The refresh token has expired.", code="token_expired")
    user = await users_service.get_user(user_id=PydanticObjectId(claims["sub"]))
    if user is None or user.disabled or user.id != stored.user_id:
        await sessions.end_session(
            state, user_id=stored.user_id, family_id=stored.family_id, reason="revoked"
        )
        raise Unauthorized("The account is not available.", code="invalid_token")
    return await _issue_pair(state=state, user=user, family_id=stored.family_id, rotation=True)


async def logout(*, state: AppState, refresh_token: str) -> None:
    """Ends the token's session; a token of an ended session is fine too (logout is
    idempotent, and repeating it repairs a logout that failed half-way)."""
    state.tokens.decode(refresh_token, expected_type="refresh")
    stored = await sessions.find_refresh_token(token_hash=hash_token(refresh_token))
    if stored is not None:
        await sessions.end_session(
            state, user_id=stored.user_id, family_id=stored.family_id, reason="logged_out"
        )
