"""Single sign-on with OpenID Connect: the login, the provider's return, the one-time login code
(docs/ACCOUNTS.md, "Single sign-on").

1. `start_login`: checks the app's `redirect_uri` (same origin as `PUBLIC_URL` or a
   `CORS_ORIGINS` entry), keeps `{provider, redirect_uri, nonce, PKCE verifier}` under the
   `state` in the shared one-time store (10 minutes) and sends the browser to the provider.
2. `finish_login` (the callback, on any instance): takes the state (once), exchanges the code
   with the verifier, verifies the ID token, finds or makes the account (`_account_for`) and
   sends the browser back to `redirect_uri?login_code=<code>`; the code is good once, for 60 s,
   and only its hash is stored. No token ever travels in a URL.
3. `exchange`: the app trades the code for the usual auth answer (a new session).
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from beanie import PydanticObjectId

from models import Profile, User, UserIdentity
from models.common import utcnow
from server.audit import service as audit_service
from server.auth import identities, service
from server.auth.oidc_client import OidcError
from server.auth.schemas import AuthResponse
from server.config import Settings
from server.errors import AppError, Conflict, Forbidden, ValidationFailed, dependency_error
from server.orgs import service as orgs_service
from server.state import AppState
from server.users import service as users_service

log = logging.getLogger("starguide.auth.oidc")

STATE_TTL_SECONDS = 600  # time to sign in at the provider
LOGIN_CODE_TTL_SECONDS = 60
# New accounts without a verified email get an address nobody can sign up with (sign-up
# refuses the reserved `.invalid` domain), so they never take a real person's address.
PLACEHOLDER_EMAIL_DOMAIN = "sso.starguide.invalid"
_DISPLAY_NAME_MAX = 80
# How long a first login may take between linking an identity and creating its account.
_LINK_SETTLE = timedelta(minutes=1)


def redirect_not_allowed() -> ValidationFailed:
    return ValidationFailed(
        "redirect_uri must be on the origin of PUBLIC_URL or of one of CORS_ORIGINS.",
        code="redirect_uri_not_allowed",
    )


def invalid_state() -> AppError:
    return AppError(
        "This sign-in link is invalid, used or expired; start the sign-in again.",
        code="invalid_oidc_state",
        status=400,
    )


def invalid_login_code() -> AppError:
    return AppError(
        "The login code is invalid, used or expired; sign in again.",
        code="invalid_login_code",
        status=400,
    )


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL with a host. Any scheme: an app on `capacitor://localhost`
    lists that origin in CORS_ORIGINS; a scheme nobody listed never matches an allowed origin."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS.get(parts.scheme)


def check_redirect_uri(settings: Settings, redirect_uri: str) -> str:
    """The app URL the browser returns to, if it is on an allowed origin (scheme, host, port):
    otherwise anyone could have a login code sent to their own site."""
    parts = urlsplit(redirect_uri)
    origin = _origin(redirect_uri)
    if origin is None or parts.username is not None or parts.password is not None or parts.fragment:
        raise redirect_not_allowed()
    allowed = {_origin(o) for o in (settings.public_url, *settings.cors_origins)}
    if origin not in allowed:
        raise redirect_not_allowed()
    return redirect_uri


def with_params(url: str, **params: str) -> str:
    """`url` with `params` in its query (replacing any of the same names)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))


async def start_login(*, state: AppState, name: str, redirect_uri: str, client: str) -> str:
    """The provider's authorization URL for a new login (PKCE S256, `state`, `nonce`)."""
    state.oidc.get(name)  # 404 for an unknown provider before anything is counted or kept
    check_redirect_uri(state.settings, redirect_uri)
    await state.client_limits.login.hit(client)
    login_state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)  # 64 characters: within PKCE's 43..128
    url = await state.oidc.authorization_url(
        name, state=login_state, nonce=nonce, code_verifier=verifier
    )
    await state.oidc.store.put(
        "state",
        login_state,
        {"provider": name, "redirect_uri": redirect_uri, "nonce": nonce, "verifier": verifier},
        ttl=STATE_TTL_SECONDS,
    )
    return url


async def finish_login(*, state: AppState, name: str, params: dict[str, str]) -> str:
    """Where the callback sends the browser: `redirect_uri?login_code=...`, or
    `redirect_uri?error=<code>` when the login failed after the state was recognised. An
    unknown, spent or expired state (or one of another provider) raises 400
    `invalid_oidc_state`: without it nothing says where the browser may safely be sent."""
    state.oidc.get(name)
    login_state = params.get("state")
    stored = await state.oidc.store.take("state", login_state) if login_state else None
    if stored is None or stored.get("provider") != name:
        raise invalid_state()
    redirect_uri: str = stored["redirect_uri"]
    try:
        user = await _sign_in(state=state, name=name, params=params, stored=stored)
    except AppError as error:
        return with_params(redirect_uri, error=error.code)
    except Exception as exc:
        outage = dependency_error(exc)
        if outage is None:
            raise
        return with_params(redirect_uri, error=outage.code)
    code = secrets.token_urlsafe(32)
    await state.oidc.store.put("code", code, {"user_id": str(user.id)}, ttl=LOGIN_CODE_TTL_SECONDS)
    return with_params(redirect_uri, login_code=code)


async def exchange(*, state: AppState, login_code: str) -> AuthResponse:
    """The code is taken in one atomic step: of two exchanges, one gets a session."""
    taken = await state.oidc.store.take("code", login_code)
    if taken is None:
        raise invalid_login_code()
    user = await users_service.get_user(user_id=PydanticObjectId(taken["user_id"]))
    if user is None:
        raise invalid_login_code()
    if user.disabled:
        raise Forbidden("This account is disabled.", code="account_disabled")
    return await service.start_session(state=state, user=user)


async def _sign_in(
    *, state: AppState, name: str, params: dict[str, str], stored: dict[str, Any]
) -> User:
    if params.get("error"):
        # The provider's own description stays out: it is shown to nobody, logged by code.
        log.info("oidc provider %s answered %s", name, params["error"][:64])
        denied = params["error"] == "access_denied"
        raise OidcError(
            "The sign-in was cancelled." if denied else "The sign-in provider refused the login.",
            code="sso_denied" if denied else "sso_failed",
        )
    code = params.get("code")
    if not code:
        raise OidcError("The sign-in provider sent no authorization code.")
    issuer = (await state.oidc.discovery(name)).issuer
    if params.get("iss") not in (None, issuer):
        # RFC 9207: the answer names another issuer, a mix-up attack or a misconfiguration.
        raise OidcError("The answer came from another sign-in provider.")
    token = await state.oidc.exchange_code(name, code=code, code_verifier=stored["verifier"])
    claims = await state.oidc.verify_id_token(name, token["id_token"], nonce=stored["nonce"])
    if "email" not in claims and isinstance(token.get("access_token"), str):
        info = await state.oidc.userinfo(name, access_token=token["access_token"])
        if info.get("sub") == claims["sub"]:  # OpenID Connect Core §5.3.2
            claims = {**info, **claims}
    user, identity, linked = await _account_for(
        state=state, name=name, issuer=issuer, claims=claims
    )
    if linked:
        await audit_service.record(
            action="auth.sso_link",
            actor_id=user.id,
            org_id=user.org_id,
            target_type="user_identity",
            target_id=str(identity.id),
            details={"provider": name},
        )
    if user.disabled:
        await audit_service.record(
            action="auth.sso_login",
            outcome="failure",
            actor_id=user.id,
            org_id=user.org_id,
            details={"provider": name, "reason": "account_disabled"},
        )
        raise Forbidden("This account is disabled.", code="account_disabled")
    await audit_service.record(
        action="auth.sso_login",
        actor_id=user.id,
        org_id=user.org_id,
        target_type="user_identity",
        target_id=str(identity.id),
        details={"provider": name},
    )
    return user


def _aware(at: datetime) -> datetime:
    """MongoDB hands back naive UTC times unless the client is tz-aware."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _verified_email(claims: dict[str, Any]) -> str | None:
    """The email, only when the provider vouches for it (`email_verified`: true, or the string
    "true" some providers send)."""
    email, verified = claims.get("email"), claims.get("email_verified")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        return None
    return email.strip().lower() if verified is True or verified == "true" else None


def _display_name(claims: dict[str, Any], email: str | None) -> str:
    for key in ("name", "given_name", "preferred_username"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:_DISPLAY_NAME_MAX]
    return email.split("@", 1)[0][:_DISPLAY_NAME_MAX] if email else "Learner"


async def _account_for(
    *, state: AppState, name: str, issuer: str, claims: dict[str, Any]
) -> tuple[User, UserIdentity, bool]:
    """The user this provider account signs in as, its identity, and whether the identity was
    linked by this login. Matched by (issuer, subject); a first login links to the account
    with the same email only when the email is verified, otherwise makes a new learner (in the
    organization whose `sso_domains` holds the verified email's domain, else the default)."""
    subject = str(claims["sub"])
    identity = await identities.find(issuer=issuer, subject=subject)
    if identity is not None:
        user = await users_service.get_user(user_id=identity.user_id)
        assert identity.id is not None
        if user is not None:
            await identities.touch(identity_id=identity.id)
            return user, identity, False
        if utcnow() - _aware(identity.created_at) < _LINK_SETTLE:
            # Linked a moment ago by a first login still creating the account: not stale.
            raise OidcError("Another sign-in of this account is under way; try again.")
        await identities.remove(identity_id=identity.id)  # its account is gone for good
    email = _verified_email(claims)
    existing = await users_service.find_by_email(email=email) if email else None
    target = existing.id if existing is not None else PydanticObjectId()
    assert target is not None
    # The link comes first: of two concurrent first logins, one links (and, for a new
    # account, creates it); the other signs in through the winner's identity.
    identity, made = await identities.link(
        user_id=target, provider=name, issuer=issuer, subject=subject
    )
    if not made:
        user = await users_service.get_user(user_id=identity.user_id)
        if user is None:
            raise OidcError("Another sign-in of this account is under way; try again.")
        return user, identity, False
    if existing is not None:
        return existing, identity, True
    try:
        user = await _new_learner(state=state, user_id=target, email=email, claims=claims)
    except Conflict as exc:
        # The verified email was taken by a sign-up in between: undo the link, retry later.
        assert identity.id is not None
        await identities.remove(identity_id=identity.id)
        raise OidcError("This email was just registered; sign in again.") from exc
    return user, identity, True


async def _new_learner(
    *, state: AppState, user_id: PydanticObjectId, email: str | None, claims: dict[str, Any]
) -> User:
    org = None
    if email is not None:
        org = await orgs_service.find_by_sso_domain(domain=email.rsplit("@", 1)[1])
    if org is None:
        org = await orgs_service.ensure_default_org(
            slug=state.settings.default_org_slug, name=state.settings.default_org_name
        )
    assert org.id is not None
    user = await users_service.create_user(
        user_id=user_id,
        email=email or f"sso-{secrets.token_hex(12)}@{PLACEHOLDER_EMAIL_DOMAIN}",
        password_hash=None,
        org_id=org.id,
        profile=Profile(display_name=_display_name(claims, email)),
    )
    await audit_service.record(
        action="user.register",
        actor_id=user.id,
        org_id=org.id,
        target_type="user",
        target_id=str(user.id),
        details={"via": "sso"},
    )
    return user
