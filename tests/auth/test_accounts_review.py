"""Accounts as clients written against the contract alone see them: recovery with the default
per-client limits, any email answered 202, the OIDC routes' errors in the contract's shape,
the `redirect_uri` origin check's edge cases and the token endpoint's client authentication."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from models import PasswordResetToken, Profile
from server.auth.oidc import check_redirect_uri
from server.auth.oidc_client import Discovery, accepted_issuers, token_auth_method
from server.config import Settings
from server.errors import AppError
from server.orgs import service as orgs_service
from server.users import service as users_service
from tests.conftest import Api, free_port, make_settings
from tests.mail.smtp import Inbox, smtp_inbox

__all__ = ["smtp_inbox"]  # the fixture, for this module

BASE = "/api/v1"
PUBLIC_URL = "http://testserver"


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory, smtp_inbox: Inbox
) -> Settings:
    # The recovery limits are left at their defaults on purpose: what a deployment runs with.
    return make_settings(
        mongo_url,
        Path(tmp_path_factory.mktemp("accounts-review")),
        smtp_url=smtp_inbox.url,
        public_url=PUBLIC_URL,
        cors_origins=["http://localhost:5173", "https://[::1]:8443"],
        # Nothing listens there: an allowed redirect_uri reaches discovery and gets 503.
        oidc_providers={"down": {"issuer": f"http://127.0.0.1:{free_port()}", "client_id": "x"}},
    )


def _error(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    code: str = body["error"]["code"]
    return code


async def test_recovery_with_default_limits_serves_a_short_session_of_requests(api: Api) -> None:
    """A user who asks twice, mistypes the token, then resets, and a client that checks known
    and unknown emails alike, stay within the default per-client limit."""
    for i in range(10):
        response = await api.client.post(
            f"{BASE}/auth/password/forgot", json={"email": f"ghost{i}-{uuid.uuid4().hex}@ex.com"}
        )
        assert response.status_code == 202, response.text
    for _ in range(3):
        response = await api.client.post(
            f"{BASE}/auth/password/reset",
            json={"token": "not-a-token", "new_password": "a new passphrase"},
        )
        assert response.status_code == 400 and _error(response) == "invalid_reset_token"


@pytest.mark.parametrize(
    "email", ["nobody@nowhere.invalid", "ghost@example.test", "Someone@Example.COM"]
)
async def test_forgot_answers_202_whatever_the_email(api: Api, email: str) -> None:
    response = await api.client.post(f"{BASE}/auth/password/forgot", json={"email": email})
    assert response.status_code == 202, response.text


async def test_a_placeholder_address_never_gets_a_reset_link(api: Api, app: Any) -> None:
    """Imported and SSO-made accounts without a real address have a `.invalid` placeholder:
    a reset link for it would give the account a password without a claim."""
    settings: Settings = app.state.ctx.settings
    org = await orgs_service.ensure_default_org(
        slug=settings.default_org_slug, name=settings.default_org_name
    )
    assert org.id is not None
    email = f"legacy-{uuid.uuid4().hex[:8]}@legacy.starguide.invalid"
    user = await users_service.create_user(
        email=email,
        password_hash=None,
        org_id=org.id,
        profile=Profile(display_name="Ravi"),
        legacy_id=f"user_{uuid.uuid4().hex[:8]}",
    )
    response = await api.client.post(f"{BASE}/auth/password/forgot", json={"email": email})
    assert response.status_code == 202, response.text
    assert await PasswordResetToken.find({"user_id": user.id}).count() == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/auth/oidc/exchange"),
        ("POST", "/auth/oidc/down/login"),
        ("POST", "/auth/oidc/providers"),
        ("GET", "/auth/oidc/down/nothing-here"),
        ("GET", "/auth/oidc/nope/login?redirect_uri=http://localhost:5173/"),
        ("GET", "/auth/oidc/nope/callback?state=x"),
    ],
)
async def test_oidc_route_errors_have_the_contract_shape(api: Api, method: str, path: str) -> None:
    response = await api.client.request(method, f"{BASE}{path}")
    assert response.status_code in (404, 405), response.text
    code = _error(response)
    if path.startswith("/auth/oidc/nope/"):
        assert code == "oidc_provider_not_found"


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost:5173@evil.example/",
        "http://evil.example\\@localhost:5173/",
        "http://localhost:5173\\@evil.example/",
        "http://user:pw@localhost:5173/",
        "http://localhost.:5173/",
        "http://localhost:5174/",
        "https://localhost:5173/",
        "http://localhost:5173/#frag",
        "javascript://localhost:5173/%0aalert(1)",
        "//localhost:5173/",
        "http://[::1]:5173/",
        "https://[::1]/",
        "http://localhost:99999/",
    ],
)
async def test_a_redirect_uri_off_origin_is_422(api: Api, uri: str) -> None:
    response = await api.client.get(f"{BASE}/auth/oidc/down/login", params={"redirect_uri": uri})
    assert response.status_code == 422, response.text
    assert _error(response) == "redirect_uri_not_allowed"


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost:5173/signed-in?x=1",
        "HTTP://LOCALHOST:5173/signed-in",
        "http://testserver:80/app",
        "https://[::1]:8443/done",
        "http://testserver",
    ],
)
def test_allowed_origins_pass_the_check(app_settings: Settings, uri: str) -> None:
    assert check_redirect_uri(app_settings, uri) == uri


def test_an_off_origin_uri_raises(app_settings: Settings) -> None:
    with pytest.raises(AppError):
        check_redirect_uri(app_settings, "http://127.0.0.1:5173/")


def _discovery(methods: tuple[str, ...]) -> Discovery:
    return Discovery(
        issuer="https://op.example",
        authorization_endpoint="https://op.example/auth",
        token_endpoint="https://op.example/token",
        jwks_uri="https://op.example/jwks",
        userinfo_endpoint=None,
        algorithms=("RS256",),
        auth_methods=methods,
    )


@pytest.mark.parametrize(
    ("methods", "has_secret", "expected"),
    [
        (("client_secret_basic",), True, "client_secret_basic"),  # also the default when unsaid
        (("client_secret_post", "client_secret_basic"), True, "client_secret_basic"),
        (("client_secret_post", "private_key_jwt"), True, "client_secret_post"),
        (("client_secret_basic",), False, "none"),
    ],
)
def test_token_endpoint_authentication_follows_discovery(
    methods: tuple[str, ...], has_secret: bool, expected: str
) -> None:
    assert token_auth_method(_discovery(methods), has_secret=has_secret) == expected


@pytest.mark.parametrize("name", ["google", "Keycloak", "myOP_2", "corp.sso"])
def test_any_url_safe_provider_name_is_accepted(mongo_url: str, tmp_path: Path, name: str) -> None:
    """The name is the key of `OIDC_PROVIDERS` and a path segment of the callback URL the
    deployment registers at its provider: any URL-safe name works, the server does not refuse
    to start over its case."""
    provider = {"issuer": "https://op.example", "client_id": "x"}
    settings = make_settings(mongo_url, tmp_path, oidc_providers={name: provider})
    assert list(settings.oidc_providers) == [name]


@pytest.mark.parametrize("name", ["", "a/b", "a b", "-x", "x" * 65, "é", "x\n"])
def test_a_name_that_is_no_path_segment_is_refused(
    mongo_url: str, tmp_path: Path, name: str
) -> None:
    with pytest.raises(ValueError, match="OIDC_PROVIDERS"):
        make_settings(
            mongo_url,
            tmp_path,
            oidc_providers={name: {"issuer": "https://op.example", "client_id": "x"}},
        )


def test_google_id_tokens_may_name_the_issuer_without_scheme() -> None:
    """Google: "the value of iss in the ID token is equal to accounts.google.com or
    https://accounts.google.com"; every other provider: exactly its discovered issuer."""
    assert accepted_issuers("https://accounts.google.com") == [
        "https://accounts.google.com",
        "accounts.google.com",
    ]
    assert accepted_issuers("https://login.example.org/realms/x") == [
        "https://login.example.org/realms/x"
    ]


def test_an_app_origin_of_another_scheme_in_cors_origins_is_allowed(
    mongo_url: str, tmp_path: Path
) -> None:
    """Capacitor and Ionic apps run on the origin `capacitor://localhost` / `ionic://localhost`
    and list it in CORS_ORIGINS: the same origin (scheme, host, port) is allowed for their
    redirect_uri, as the contract says; a scheme or host nobody listed stays refused."""
    settings = make_settings(
        mongo_url, tmp_path, cors_origins=["capacitor://localhost", "http://localhost:5173"]
    )
    uri = "capacitor://localhost/signed-in"
    assert check_redirect_uri(settings, uri) == uri
    for refused in (
        "capacitor://evil.example/",
        "ionic://localhost/",
        "javascript://localhost/%0aalert(1)",
        "capacitor://localhost:1234/",
        "capacitor:///localhost/",
    ):
        with pytest.raises(AppError):
            check_redirect_uri(settings, refused)
