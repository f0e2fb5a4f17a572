"""Single sign-on through a real OpenID provider (`oidc-provider`, tests/node): the login end to
end, the one-time login code, and every check the contract names (docs/ACCOUNTS.md)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from beanie import PydanticObjectId
from redis.asyncio import Redis

from models import AuditLog, User, UserIdentity
from server.auth.oidc_client import OidcError
from server.auth.oidc_store import OneTimeStore
from server.config import Settings
from tests.admin.helpers import set_role
from tests.auth.oidc_peer import OpenIdProvider
from tests.conftest import Api, free_port, make_settings

pytestmark = pytest.mark.slow

BASE = "/api/v1"
PUBLIC_URL = "http://testserver"
APP_URL = "http://localhost:5173/signed-in"


def callback(name: str) -> str:
    return f"{PUBLIC_URL}{BASE}/auth/oidc/{name}/callback"


@pytest.fixture(scope="module")
def op() -> Iterator[OpenIdProvider]:
    provider = OpenIdProvider(
        free_port(), [callback(n) for n in ("test", "intruder", "poster", "odd")]
    )
    yield provider
    provider.stop()


# A second provider, started by the one test that then stops it half-way through a login.
FLAKY_PORT = free_port()


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory, op: OpenIdProvider
) -> Settings:
    providers: dict[str, Any] = {
        "flaky": {
            "issuer": f"http://127.0.0.1:{FLAKY_PORT}",
            "client_id": "starguide",
            "client_secret": "starguide-secret",
        },
        "test": {
            "issuer": op.issuer,
            "client_id": "starguide",
            "client_secret": "starguide-secret",
        },
        "intruder": {
            "issuer": op.issuer,
            "client_id": "intruder",
            "client_secret": "intruder-secret",
        },
        # A client registered for client_secret_post only, and one whose secret needs
        # form-encoding in client_secret_basic.
        "poster": {"issuer": op.issuer, "client_id": "poster", "client_secret": "poster-secret"},
        "odd": {
            "issuer": op.issuer,
            "client_id": "odd",
            "client_secret": "odd+secret/with:%and space",
        },
        # Nothing listens there: a provider that is down.
        "down": {"issuer": f"http://127.0.0.1:{free_port()}", "client_id": "x"},
    }
    return make_settings(
        mongo_url,
        Path(tmp_path_factory.mktemp("oidc")),
        public_url=PUBLIC_URL,
        cors_origins=["http://localhost:5173"],
        oidc_providers=providers,
    )


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def start(api: Api, provider: str = "test", redirect_uri: str = APP_URL) -> str:
    response = await api.client.get(
        f"{BASE}/auth/oidc/{provider}/login", params={"redirect_uri": redirect_uri}
    )
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def come_back(api: Api, callback_url: str) -> str:
    parts = urlsplit(callback_url)
    response = await api.client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 302, response.text
    location: str = response.headers["location"]
    return location


async def sign_in(
    api: Api, op: OpenIdProvider, claims: dict[str, Any], provider: str = "test"
) -> tuple[str, str]:
    """A whole login as a browser makes it; returns (account id at the provider, where the
    browser lands in the app)."""
    account = uuid.uuid4().hex
    await op.set_account(account, claims)
    landed = await come_back(api, await op.sign_in(await start(api, provider), account))
    return account, landed


async def exchange(api: Api, landed: str) -> dict[str, Any]:
    assert landed.startswith(APP_URL + "?"), landed
    response = await api.client.post(
        f"{BASE}/auth/oidc/exchange", json={"login_code": query(landed)["login_code"]}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def verified(email: str, **extra: Any) -> dict[str, Any]:
    return {"email": email, "email_verified": True, **extra}


async def test_the_providers_are_listed(api: Api) -> None:
    response = await api.client.get(f"{BASE}/auth/oidc/providers")
    assert response.status_code == 200
    names = [item["name"] for item in response.json()["items"]]
    assert names == ["down", "flaky", "intruder", "odd", "poster", "test"]


async def test_a_login_goes_through_the_provider_end_to_end(api: Api, op: OpenIdProvider) -> None:
    email = f"sso-{uuid.uuid4().hex[:8]}@example.com"
    authorization = await start(api)
    sent = query(authorization)
    # Authorization code flow with PKCE S256, state and nonce; no verifier or token in the URL.
    assert sent["response_type"] == "code" and sent["code_challenge_method"] == "S256"
    assert sent["state"] and sent["nonce"] and "code_verifier" not in sent
    assert sent["redirect_uri"] == callback("test")
    account = uuid.uuid4().hex
    await op.set_account(account, verified(email, name="Asha Single"))
    landed = await come_back(api, await op.sign_in(authorization, account))
    assert set(query(landed)) == {"login_code"} and "token" not in landed
    answer = await exchange(api, landed)
    assert answer["token_type"] == "bearer" and answer["refresh_token"]
    me = await api.client.get(
        f"{BASE}/users/me", headers={"Authorization": f"Bearer {answer['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == email
    assert me.json()["profile"]["display_name"] == "Asha Single"
    user_id = PydanticObjectId(me.json()["id"])
    identity = await UserIdentity.find_one({"user_id": user_id})
    assert identity is not None and identity.subject == account and identity.issuer == op.issuer
    # Audited with ids only: never the email or a code.
    entries = await AuditLog.find({"actor_id": user_id}).to_list()
    actions = {e.action for e in entries}
    assert {"auth.sso_link", "auth.sso_login"} <= actions
    assert email not in str([e.model_dump() for e in entries])

    # The same provider account again: matched by (issuer, subject), the same user.
    landed = await come_back(api, await op.sign_in(await start(api), account))
    again = await exchange(api, landed)
    assert again["user"]["id"] == str(user_id)
    assert await UserIdentity.find({"user_id": user_id}).count() == 1


async def test_a_login_code_works_once(api: Api, op: OpenIdProvider) -> None:
    _, landed = await sign_in(api, op, verified(f"{uuid.uuid4().hex[:8]}@example.com"))
    await exchange(api, landed)
    replay = await api.client.post(
        f"{BASE}/auth/oidc/exchange", json={"login_code": query(landed)["login_code"]}
    )
    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "invalid_login_code"
    unknown = await api.client.post(f"{BASE}/auth/oidc/exchange", json={"login_code": "nope"})
    assert unknown.status_code == 400


async def test_a_tampered_or_replayed_state_is_refused(api: Api, op: OpenIdProvider) -> None:
    account = uuid.uuid4().hex
    await op.set_account(account, verified(f"{account[:8]}@example.com"))
    back = await op.sign_in(await start(api), account)
    real_state = query(back)["state"]
    tampered = back.replace(
        real_state, real_state[:-2] + ("AA" if real_state[-2:] != "AA" else "BB")
    )
    parts = urlsplit(tampered)
    response = await api.client.get(f"{parts.path}?{parts.query}")
    # Without a known state nothing says where the browser may go: a 400 in the error shape.
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_oidc_state"
    # The genuine answer still works, once; replayed, its state is spent.
    landed = await come_back(api, back)
    assert "login_code" in query(landed)
    parts = urlsplit(back)
    replay = await api.client.get(f"{parts.path}?{parts.query}")
    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "invalid_oidc_state"
    # A state of one provider is no good at another's callback.
    authorization = await start(api)
    other = await api.client.get(
        f"{BASE}/auth/oidc/intruder/callback",
        params={"state": query(authorization)["state"], "code": "x"},
    )
    assert other.status_code == 400


async def test_a_provider_error_goes_back_to_the_app(api: Api) -> None:
    authorization = await start(api)
    response = await api.client.get(
        f"{BASE}/auth/oidc/test/callback",
        params={"state": query(authorization)["state"], "error": "access_denied"},
    )
    assert response.status_code == 302
    assert response.headers["location"] == APP_URL + "?error=sso_denied"


async def test_an_id_token_with_a_wrong_nonce_is_refused(
    api: Api, app: Any, op: OpenIdProvider
) -> None:
    account = uuid.uuid4().hex
    await op.set_account(account, verified(f"{account[:8]}@example.com"))
    back = await op.sign_in(await start(api), account)
    store = app.state.ctx.oidc.store
    login_state = query(back)["state"]
    kept = await store.take("state", login_state)
    assert kept is not None
    await store.put("state", login_state, {**kept, "nonce": "another-nonce"}, ttl=60)
    landed = await come_back(api, back)
    assert landed == APP_URL + "?error=invalid_id_token"
    assert await UserIdentity.find({"subject": account}).count() == 0


async def test_an_id_token_for_another_audience_is_refused(
    api: Api, app: Any, op: OpenIdProvider
) -> None:
    """A real ID token of the same provider, issued to its other client: signature, issuer,
    nonce and expiry are fine, only the audience is not ours."""
    oidc = app.state.ctx.oidc
    account = uuid.uuid4().hex
    await op.set_account(account, verified(f"{account[:8]}@example.com"))
    back = await op.sign_in(await start(api, "intruder"), account)
    kept = await oidc.store.take("state", query(back)["state"])
    token = await oidc.exchange_code(
        "intruder", code=query(back)["code"], code_verifier=kept["verifier"]
    )
    claims = await oidc.verify_id_token("intruder", token["id_token"], nonce=kept["nonce"])
    assert claims["aud"] == "intruder"
    with pytest.raises(OidcError) as refused:
        await oidc.verify_id_token("test", token["id_token"], nonce=kept["nonce"])
    assert refused.value.code == "invalid_id_token"


async def test_an_expired_id_token_is_refused(
    api: Api, app: Any, op: OpenIdProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real ID token of our own client, checked once its `exp` (plus the clock leeway) has
    passed: refused, though signature, issuer, audience and nonce still hold."""
    oidc = app.state.ctx.oidc
    account = uuid.uuid4().hex
    await op.set_account(account, verified(f"{account[:8]}@example.com"))
    back = await op.sign_in(await start(api), account)
    kept = await oidc.store.take("state", query(back)["state"])
    token = await oidc.exchange_code(
        "test", code=query(back)["code"], code_verifier=kept["verifier"]
    )
    claims = await oidc.verify_id_token("test", token["id_token"], nonce=kept["nonce"])
    later = int(claims["exp"]) + 3600
    monkeypatch.setattr("joserfc._rfc7519.claims._generate_now", lambda: later)
    with pytest.raises(OidcError) as refused:
        await oidc.verify_id_token("test", token["id_token"], nonce=kept["nonce"])
    assert refused.value.code == "invalid_id_token"


async def test_an_unverified_email_is_not_linked(api: Api, op: OpenIdProvider) -> None:
    owner = await api.register()
    email = owner["user"]["email"]
    _, landed = await sign_in(api, op, {"email": email, "email_verified": False})
    answer = await exchange(api, landed)
    assert answer["user"]["id"] != owner["user"]["id"]
    # The new learner does not take the address either: it is nobody's to give.
    assert answer["user"]["email"] != email
    assert answer["user"]["email"].endswith(".invalid")
    assert answer["user"]["role"] == "learner"
    assert await UserIdentity.find({"user_id": PydanticObjectId(owner["user"]["id"])}).count() == 0


async def test_a_verified_email_links_the_existing_account(api: Api, op: OpenIdProvider) -> None:
    owner = await api.register()
    email = owner["user"]["email"]
    _, landed = await sign_in(api, op, verified(email.upper()))
    answer = await exchange(api, landed)
    assert answer["user"]["id"] == owner["user"]["id"]
    link = await AuditLog.find_one(
        {"action": "auth.sso_link", "actor_id": PydanticObjectId(owner["user"]["id"])}
    )
    assert link is not None and link.details == {"provider": "test"}


async def test_sso_domains_place_new_users_and_belong_to_one_organization(
    api: Api, op: OpenIdProvider
) -> None:
    root = await set_role(await api.register(), "admin")
    domain = f"{uuid.uuid4().hex[:8]}.ac.in"
    orgs = []
    for slug in (f"allen-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"):
        created = await api.client.post(
            f"{BASE}/admin/orgs", json={"name": slug, "slug": slug}, headers=root["auth"]
        )
        assert created.status_code == 201
        orgs.append(created.json())
    first = await api.client.patch(
        f"{BASE}/admin/orgs/{orgs[0]['id']}",
        json={"sso_domains": [domain.upper(), domain]},
        headers=root["auth"],
    )
    assert first.status_code == 200, first.text
    assert first.json()["sso_domains"] == [domain]
    taken = await api.client.patch(
        f"{BASE}/admin/orgs/{orgs[1]['id']}", json={"sso_domains": [domain]}, headers=root["auth"]
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "sso_domain_taken"
    # An organization's own admin may not claim domains.
    org_admin = await set_role(await api.register(org_slug=orgs[1]["slug"]), "admin")
    refused = await api.client.patch(
        f"{BASE}/admin/orgs/{orgs[1]['id']}",
        json={"sso_domains": ["example.org"]},
        headers=org_admin["auth"],
    )
    assert refused.status_code == 403

    _, landed = await sign_in(api, op, verified(f"ravi@{domain}"))
    placed = await exchange(api, landed)
    assert placed["user"]["org_id"] == orgs[0]["id"]
    # Not verified: not placed by its domain.
    _, landed = await sign_in(api, op, {"email": f"kiran@{domain}", "email_verified": False})
    unplaced = await exchange(api, landed)
    assert unplaced["user"]["org_id"] != orgs[0]["id"]


async def test_a_redirect_uri_off_the_allowed_origins_is_422(api: Api) -> None:
    for bad in (
        "https://evil.example/cb",
        "http://localhost:5174/signed-in",  # another port
        "https://localhost:5173/signed-in",  # another scheme
        "javascript:alert(1)",
        "http://user@localhost:5173/x",
        "/relative",
    ):
        response = await api.client.get(
            f"{BASE}/auth/oidc/test/login", params={"redirect_uri": bad}
        )
        assert response.status_code == 422, bad
        assert response.json()["error"]["code"] == "redirect_uri_not_allowed"
    # PUBLIC_URL's origin and CORS_ORIGINS are fine.
    for good in (f"{PUBLIC_URL}/app", "http://localhost:5173/x?keep=1"):
        response = await api.client.get(
            f"{BASE}/auth/oidc/test/login", params={"redirect_uri": good}
        )
        assert response.status_code == 302, good


async def test_admins_see_and_unlink_identities(api: Api, op: OpenIdProvider) -> None:
    root = await set_role(await api.register(), "admin")
    account, landed = await sign_in(api, op, {"email": "x@example.com", "email_verified": False})
    user = (await exchange(api, landed))["user"]
    url = f"{BASE}/admin/users/{user['id']}/identities"
    listed = await api.client.get(url, headers=root["auth"])
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [(i["provider"], i["issuer"], i["subject"]) for i in items] == [
        ("test", op.issuer, account)
    ]
    assert listed.json()["next_cursor"] is None
    learner = await api.register()
    assert (await api.client.get(url, headers=learner["auth"])).status_code == 403
    missing = await api.client.delete(f"{url}/{PydanticObjectId()}", headers=root["auth"])
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "identity_not_found"
    removed = await api.client.delete(f"{url}/{items[0]['id']}", headers=root["auth"])
    assert removed.status_code == 204
    assert (await api.client.get(url, headers=root["auth"])).json()["items"] == []
    entry = await AuditLog.find_one({"action": "auth.sso_unlink", "target_id": items[0]["id"]})
    assert entry is not None and entry.details == {"user_id": user["id"]}
    # Unlinked, the provider account no longer signs in as that user.
    landed = await come_back(api, await op.sign_in(await start(api), account))
    assert (await exchange(api, landed))["user"]["id"] != user["id"]


async def test_a_disabled_account_is_sent_back_with_an_error(api: Api, op: OpenIdProvider) -> None:
    owner = await api.register()
    await User.find_one(User.id == PydanticObjectId(owner["user"]["id"])).update(
        {"$set": {"disabled": True}}
    )
    _, landed = await sign_in(api, op, verified(owner["user"]["email"]))
    assert landed == APP_URL + "?error=account_disabled"


async def test_export_lists_identities_and_erasure_deletes_them(
    api: Api, op: OpenIdProvider
) -> None:
    account, landed = await sign_in(api, op, verified(f"{uuid.uuid4().hex[:8]}@example.com"))
    answer = await exchange(api, landed)
    auth = {"Authorization": f"Bearer {answer['access_token']}"}
    export = await api.client.get(f"{BASE}/users/me/export", headers=auth)
    assert export.status_code == 200
    [listed] = export.json()["sso_identities"]
    assert (listed["issuer"], listed["subject"]) == (op.issuer, account)
    assert (await api.client.delete(f"{BASE}/users/me", headers=auth)).status_code == 204
    assert await UserIdentity.find({"subject": account}).count() == 0


async def test_a_provider_that_is_down_is_503(api: Api) -> None:
    response = await api.client.get(
        f"{BASE}/auth/oidc/down/login", params={"redirect_uri": APP_URL}
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "dependency_unavailable"
    assert response.headers["retry-after"]
    unknown = await api.client.get(
        f"{BASE}/auth/oidc/nobody/login", params={"redirect_uri": APP_URL}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "oidc_provider_not_found"


@pytest.fixture(scope="module")
async def two_instances(
    app_settings: Settings, redis_url: str, mongo_url: str
) -> AsyncIterator[tuple[Api, Api]]:
    """Two instances of one deployment (one database, one Redis), as behind a load balancer."""
    from server.app import create_app

    settings = app_settings.model_copy(update={"redis_url": redis_url})
    async with contextlib.AsyncExitStack() as stack:
        apis = []
        for _ in range(2):
            instance = create_app(settings)
            await stack.enter_async_context(instance.router.lifespan_context(instance))
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=instance), base_url=PUBLIC_URL
            )
            await stack.enter_async_context(client)
            apis.append(Api(client))
        yield apis[0], apis[1]


async def test_with_redis_the_callback_and_the_exchange_may_reach_other_instances(
    two_instances: tuple[Api, Api], op: OpenIdProvider, redis_url: str
) -> None:
    first, second = two_instances
    account = uuid.uuid4().hex
    await op.set_account(account, verified(f"{account[:8]}@example.com"))
    back = await op.sign_in(await start(first), account)
    # Only hashes are stored: neither the state nor the code appears in a key.
    redis = Redis.from_url(redis_url)
    keys = [k.decode() async for k in redis.scan_iter("starguide:oidc:*")]
    assert keys and not any(query(back)["state"] in k for k in keys)
    landed = await come_back(second, back)
    answer = await exchange(first, landed)
    assert answer["user"]["email"] == f"{account[:8]}@example.com"
    # Spent on every instance.
    replay = await second.client.post(
        f"{BASE}/auth/oidc/exchange", json={"login_code": query(landed)["login_code"]}
    )
    assert replay.status_code == 400
    parts = urlsplit(back)
    assert (await first.client.get(f"{parts.path}?{parts.query}")).status_code == 400
    await redis.aclose()


@pytest.mark.parametrize("with_redis", [False, True])
async def test_one_time_values_expire_and_are_taken_once(with_redis: bool, redis_url: str) -> None:
    """What makes a login code good once and for 60 s, and a state good once (with Redis and
    in memory alike)."""
    redis = Redis.from_url(redis_url) if with_redis else None
    store = OneTimeStore(redis)
    await store.put("code", "short", {"user_id": "u"}, ttl=1)
    await store.put("code", "kept", {"user_id": "v"}, ttl=60)
    results = await asyncio.gather(*(store.take("code", "kept") for _ in range(5)))
    assert [r for r in results if r is not None] == [{"user_id": "v"}]
    await asyncio.sleep(1.2)
    assert await store.take("code", "short") is None
    # A state and a code with the same text are different values.
    await store.put("state", "same", {"k": 1}, ttl=60)
    assert await store.take("code", "same") is None
    assert await store.take("state", "same") == {"k": 1}
    if redis is not None:
        await redis.aclose()


async def test_a_provider_down_at_the_callback_sends_the_app_an_error(api: Api) -> None:
    """The provider answers the login, then goes away before the code is exchanged: the
    browser goes back to the app with `dependency_unavailable`, never a 500."""
    flaky = OpenIdProvider(FLAKY_PORT, [callback("flaky")])
    try:
        account = uuid.uuid4().hex
        await flaky.set_account(account, verified(f"{account[:8]}@example.com"))
        back = await flaky.sign_in(await start(api, "flaky"), account)
    finally:
        flaky.stop()
    landed = await come_back(api, back)
    assert landed == APP_URL + "?error=dependency_unavailable"
    assert await UserIdentity.find({"subject": account}).count() == 0


@pytest.mark.parametrize("provider", ["poster", "odd"])
async def test_client_authentication_suits_the_registered_client(
    api: Api, op: OpenIdProvider, provider: str
) -> None:
    """A client registered for `client_secret_post` (the provider refuses Basic for it), and a
    secret with `+`, `/`, `:`, `%` and a space, which Basic must form-encode (RFC 6749
    §2.3.1): both logins go through."""
    email = f"auth-{uuid.uuid4().hex[:8]}@example.com"
    _, landed = await sign_in(api, op, verified(email), provider=provider)
    answer = await exchange(api, landed)
    assert answer["user"]["email"] == email


async def test_an_sso_account_refreshes_logs_out_and_has_no_password(
    api: Api, op: OpenIdProvider
) -> None:
    """A session started by SSO is a session like any other (refresh rotates, logout ends
    it); the account has no password, so a password login is refused as any wrong one; an
    `email_verified` sent as the string "true" (some providers do) counts as verified."""
    email = f"sso-{uuid.uuid4().hex[:8]}@example.com"
    _, landed = await sign_in(api, op, {"email": email, "email_verified": "true"})
    answer = await exchange(api, landed)
    assert answer["user"]["email"] == email
    refreshed = await api.client.post(
        f"{BASE}/auth/refresh", json={"refresh_token": answer["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    new_refresh = refreshed.json()["refresh_token"]
    logout = await api.client.post(f"{BASE}/auth/logout", json={"refresh_token": new_refresh})
    assert logout.status_code == 204, logout.text
    again = await api.client.post(f"{BASE}/auth/refresh", json={"refresh_token": new_refresh})
    assert again.status_code == 401
    login = await api.client.post(
        f"{BASE}/auth/login", json={"email": email, "password": "any password at all"}
    )
    assert login.status_code == 401 and login.json()["error"]["code"] == "invalid_credentials"
