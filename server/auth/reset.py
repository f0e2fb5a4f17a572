"""Password reset by mail (forgot, reset) and password change (docs/ACCOUNTS.md).

No account enumeration: `forgot` answers 202 after the per-client limit and does everything
else after the answer has gone (`send_reset_mail`, a background task), so neither the answer
nor its timing tells whether the email has an account. The per-address limit is counted for
every email, known or not. Reset tokens are 256 random bits, stored only as SHA-256, valid
30 minutes, and spent by compare-and-set: of two concurrent resets with one token, one wins."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any

from limits import parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from pymongo import ReturnDocument

from models import PasswordResetToken, User
from models.common import utcnow
from server.audit import service as audit_service
from server.auth import service, sessions
from server.auth.schemas import AuthResponse
from server.auth.tokens import hash_token
from server.errors import AppError, Forbidden, ValidationFailed
from server.mail.service import send_mail
from server.state import AppState
from server.users import service as users_service

log = logging.getLogger("starguide.auth")

RESET_TTL = timedelta(minutes=30)
_ADDRESS_LIMIT_NAME = "reset-address"


def invalid_token() -> AppError:
    return AppError(
        "The reset link is invalid, already used or expired; ask for a new one.",
        code="invalid_reset_token",
        status=400,
    )


def _address_key(email: str) -> str:
    # Counters name no email: a hash keeps personal data out of Redis.
    return hashlib.sha256(email.lower().encode()).hexdigest()[:32]


async def _address_allows(state: AppState, email: str) -> bool:
    limiter = MovingWindowRateLimiter(state.limits_storage)
    key = _address_key(email)
    allowed = True
    for item in parse_many(state.settings.password_reset_address_limit):
        allowed = await limiter.hit(item, _ADDRESS_LIMIT_NAME, key) and allowed
    return allowed


async def clear_address_limit(state: AppState, email: str) -> None:
    """Forgets the reset-mail counts of an address (erasure)."""
    limiter = MovingWindowRateLimiter(state.limits_storage)
    for item in parse_many(state.settings.password_reset_address_limit):
        await limiter.clear(item, _ADDRESS_LIMIT_NAME, _address_key(email))


async def send_reset_mail(*, state: AppState, email: str) -> None:
    """Runs after the 202: mails a reset link when the email has an enabled account and the
    address is under its limit. Failures are logged by class only (no address, no token)."""
    try:
        await _send_reset_mail(state=state, email=email.lower())
    except Exception as exc:
        log.warning("password reset mail not queued: %s", type(exc).__name__)


async def _send_reset_mail(*, state: AppState, email: str) -> None:
    allowed = await _address_allows(state, email)
    user = await users_service.find_by_email(email=email)
    if user is None or user.disabled or not allowed or email.endswith(".invalid"):
        # `.invalid`: the placeholder of an imported or SSO-made account (nobody's mailbox);
        # a reset would give it a password without the claim an imported account needs.
        return
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    await PasswordResetToken(
        token_hash=hash_token(token), user_id=user.id, expires_at=utcnow() + RESET_TTL
    ).insert()
    await send_mail(
        state=state,
        to=user.email,
        template="password_reset",
        values={"link": f"{state.settings.public_url}/reset?token={token}"},
    )
    await audit_service.record(
        action="auth.password_reset_requested",
        actor_id=user.id,
        org_id=user.org_id,
        target_type="user",
        target_id=str(user.id),
    )


async def reset_password(
    *, state: AppState, token: str, new_password: str, client: str
) -> AuthResponse:
    """Spends the token (compare-and-set), sets the password, ends every session of the user
    and starts a new one. The hash is computed first: a failure there leaves the token
    usable."""
    await state.client_limits.password_reset.hit(client)
    password_hash = await state.passwords.hash(new_password)
    now = utcnow()
    collection = PasswordResetToken.get_pymongo_collection()
    spent: dict[str, Any] | None = await collection.find_one_and_update(
        # Never a claim token (`server.auth.claim`): it only claims an imported account.
        {
            "token_hash": hash_token(token),
            "purpose": {"$ne": "claim"},
            "used_at": None,
            "expires_at": {"$gt": now},
        },
        {"$set": {"used_at": now}},
        return_document=ReturnDocument.AFTER,
    )
    if spent is None:
        raise invalid_token()
    user = await users_service.get_user(user_id=spent["user_id"])
    if user is None:
        raise invalid_token()
    if user.disabled:
        raise Forbidden("This account is disabled.", code="account_disabled")
    assert user.id is not None
    await users_service.set_password_hash(user_id=user.id, password_hash=password_hash)
    # Other links mailed before this reset are void now.
    await collection.update_many({"user_id": user.id, "used_at": None}, {"$set": {"used_at": now}})
    await sessions.end_all_sessions(state, user_id=user.id, reason="revoked")
    await state.login_throttle.reset(user.email)  # whoever locked the account, it is theirs
    await audit_service.record(
        action="auth.password_reset",
        actor_id=user.id,
        org_id=user.org_id,
        target_type="user",
        target_id=str(user.id),
    )
    return await service.start_session(state=state, user=user)


async def change_password(
    *,
    state: AppState,
    user: User,
    family_id: str | None,
    current_password: str,
    new_password: str,
    client: str,
) -> None:
    """422 `invalid_current_password` (not 401: the access token is fine, and a client that
    logs out on 401 would lose the session). Counted by the login throttle, so a stolen access
    token cannot be used to guess the password. Every session but the caller's ends."""
    assert user.id is not None
    email = user.email
    await state.login_throttle.attempt(email, client=client)
    if not await state.passwords.verify(current_password, user.password_hash):
        await audit_service.record(
            action="auth.password_change",
            outcome="failure",
            actor_id=user.id,
            org_id=user.org_id,
            details={"reason": "invalid_current_password"},
        )
        raise ValidationFailed(
            "The current password is incorrect.", code="invalid_current_password"
        )
    await state.login_throttle.succeeded(email, client=client)
    await users_service.set_password_hash(
        user_id=user.id, password_hash=await state.passwords.hash(new_password)
    )
    await sessions.end_all_sessions(state, user_id=user.id, reason="revoked", keep_family=family_id)
    await audit_service.record(
        action="auth.password_change",
        actor_id=user.id,
        org_id=user.org_id,
        target_type="user",
        target_id=str(user.id),
    )
