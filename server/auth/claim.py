"""Claiming an imported account (docs/ACCOUNTS.md): an invitation by mail, then the claim.

Learners imported from the old bot (`scripts/import_profiles.py`) have a placeholder email
and no password. An admin or the learner's mentor invites them by email; the claim token
(256 random bits, stored only as SHA-256 in `password_reset_tokens` with purpose `claim`,
valid 7 days) lets the learner choose a password once. The account keeps its id, so memory,
history and progress stay.

Nothing half-written: the token is spent by compare-and-set, then one conditional update
gives the account its email and password (`users_service.claim_account`). If the email was
taken meanwhile, the unique email index refuses that update and the token is given back, so
the account and the link stay as they were. Of two claims with one token, one spends it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument

from models import PasswordResetToken, User
from models.common import utcnow
from server.admin import users as admin_users
from server.audit import service as audit_service
from server.auth import service
from server.auth.schemas import AuthResponse
from server.auth.throttle import ClientLimiter
from server.auth.tokens import hash_token
from server.errors import AppError, Conflict, Forbidden
from server.mail.service import MailContext, send_mail
from server.state import AppState
from server.users import service as users_service

CLAIM_TTL = timedelta(days=7)
PURPOSE = "claim"


def invalid_token() -> AppError:
    return AppError(
        "The claim link is invalid, already used or expired; ask for a new invitation.",
        code="invalid_claim_token",
        status=400,
    )


def not_claimable() -> Conflict:
    return Conflict(
        "Only an imported account that nobody has claimed yet can be invited.",
        code="account_not_claimable",
    )


async def reachable_user(*, state: AppState, actor: User, user_id: str) -> User:
    """Whom the caller may invite: admins, anyone in their scope (`server.admin.users`);
    mentors, the learners of their own organization (the learners they already read through
    the admin API). Not only those of a study group they mentor: an imported learner cannot
    sign in, so cannot join a group, and no mentor could ever invite one. Learners: 403.
    Anyone else: 404, like every object out of reach."""
    if actor.role not in ("admin", "mentor"):
        raise Forbidden("Only admins and mentors invite learners.", code="forbidden")
    return await admin_users.get_in_scope(actor=actor, settings=state.settings, user_id=user_id)


async def invite(*, state: AppState, actor: User, user_id: str, email: str) -> datetime:
    """`POST /admin/users/{id}/claim-invite`: checks reach and the mail limits (per invited
    account and per caller, counted only for invitations that would be sent)."""
    target = await reachable_user(state=state, actor=actor, user_id=user_id)
    await check_invitable(user=target, email=email)
    limits = (
        ("claim-invite-user", state.settings.claim_invite_user_limit, str(target.id)),
        ("claim-invite-caller", state.settings.claim_invite_caller_limit, str(actor.id)),
    )
    for name, rate, key in limits:
        limiter = ClientLimiter(
            storage=state.limits_storage,
            rate=rate,
            name=name,
            message="Too many invitations; try again later.",
        )
        await limiter.hit(key)
    sent = await send_invite(mail=state, user=target, email=email, actor_id=actor.id)
    return sent.expires_at


async def check_invitable(*, user: User, email: str) -> None:
    """409 `account_not_claimable` or `email_taken` (the claim itself is what the unique
    email index guards; this read only spares a mail that could never work)."""
    if not users_service.is_unclaimed(user):
        raise not_claimable()
    holder = await users_service.find_by_email(email=email)
    if holder is not None and holder.id != user.id:
        raise Conflict("An account with this email already exists.", code="email_taken")


@dataclass(frozen=True, slots=True)
class Invitation:
    expires_at: datetime
    job_id: str  # the mail's delivery job


async def has_pending_invite(*, user_id: PydanticObjectId, email: str) -> bool:
    """A live (unspent, unexpired) invitation of this account to this email: what lets
    `import_profiles --invite` run again without mailing everyone again."""
    found = await PasswordResetToken.find_one(
        {
            "user_id": user_id,
            "purpose": PURPOSE,
            "email": email.lower(),
            "used_at": None,
            "expires_at": {"$gt": utcnow()},
        }
    )
    return found is not None


async def send_invite(
    *,
    mail: MailContext,
    user: User,
    email: str,
    actor_id: PydanticObjectId | None,
    via: str = "api",
) -> Invitation:
    """Stores a new claim token, voids the earlier unspent ones of the account, queues the
    mail and audits it (ids only). Used by the route and by `import_profiles --invite`
    (`via="import_profiles"`, no actor)."""
    await check_invitable(user=user, email=email)
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + CLAIM_TTL
    new = await PasswordResetToken(
        token_hash=hash_token(token),
        user_id=user.id,
        expires_at=expires_at,
        purpose=PURPOSE,
        email=email.lower(),
    ).insert()
    # After the insert, and only older ones: of two concurrent invitations the newer stays.
    await PasswordResetToken.get_pymongo_collection().update_many(
        {"user_id": user.id, "purpose": PURPOSE, "used_at": None, "_id": {"$lt": new.id}},
        {"$set": {"used_at": utcnow()}},
    )
    job_id = await send_mail(
        state=mail,
        to=email,
        template="claim",
        values={
            "name": user.profile.display_name,
            "link": f"{mail.settings.public_url}/claim?token={token}",
        },
    )
    await audit_service.record(
        action="auth.claim_invite",
        actor_id=actor_id,
        org_id=user.org_id,
        target_type="user",
        target_id=str(user.id),
        details={"via": via},
    )
    return Invitation(expires_at=expires_at, job_id=job_id)


async def _spend(token: str) -> dict[str, Any] | None:
    now = utcnow()
    spent: (
        dict[str, Any] | None
    ) = await PasswordResetToken.get_pymongo_collection().find_one_and_update(
        {
            "token_hash": hash_token(token),
            "purpose": PURPOSE,
            "used_at": None,
            "expires_at": {"$gt": now},
        },
        {"$set": {"used_at": now}},
        return_document=ReturnDocument.AFTER,
    )
    return spent


async def _give_back(spent: dict[str, Any]) -> None:
    """Un-spends a token whose claim did not happen (only if still spent by us)."""
    await PasswordResetToken.get_pymongo_collection().update_one(
        {"_id": spent["_id"], "used_at": spent["used_at"]}, {"$set": {"used_at": None}}
    )


async def claim(
    *, state: AppState, token: str, password: str, display_name: str | None, client: str
) -> AuthResponse:
    """`POST /auth/claim`. Counted with password resets per client address (both guess
    tokens). The hash is computed before the token is spent: a failure there spends nothing."""
    await state.client_limits.password_reset.hit(client)
    password_hash = await state.passwords.hash(password)
    spent = await _spend(token)
    if spent is None:
        raise invalid_token()
    user_id = PydanticObjectId(spent["user_id"])
    try:
        user = await users_service.claim_account(
            user_id=user_id,
            email=spent["email"],
            password_hash=password_hash,
            display_name=display_name,
        )
    except Exception:
        await _give_back(spent)  # email taken meanwhile (409), or the database failed
        raise
    if user is None:
        current = await users_service.get_user(user_id=user_id)
        if current is not None and current.disabled and current.password_hash is None:
            await _give_back(spent)  # usable again once an admin enables the account
            raise Forbidden("This account is disabled.", code="account_disabled")
        raise invalid_token()  # claimed already (another link), or erased
    # Any other invitation of this account is void now.
    await PasswordResetToken.get_pymongo_collection().update_many(
        {"user_id": user_id, "purpose": PURPOSE, "used_at": None},
        {"$set": {"used_at": utcnow()}},
    )
    await audit_service.record(
        action="auth.claim",
        actor_id=user_id,
        org_id=user.org_id,
        target_type="user",
        target_id=str(user_id),
    )
    return await service.start_session(state=state, user=user)
