"""Per-client limits on sign-up and login, and a per-account limit a stranger cannot use to keep
the owner out (README "Security")."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from server.config import Settings
from tests.conftest import make_settings

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
PASSWORD = "correct horse battery"

Client = Callable[[str], httpx.AsyncClient]


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("data"),
        signup_rate_limit="3/minute",
        login_rate_limit="6/minute",
        login_max_failures=3,
    )


@pytest.fixture
async def client_at(app: Any) -> AsyncIterator[Client]:
    """Clients connecting from a given address (the ASGI peer)."""
    made: list[httpx.AsyncClient] = []

    def make(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def _new_user() -> dict[str, str]:
    return {"email": f"{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD}


async def _sign_up(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await client.post(REGISTER, json={**_new_user(), "display_name": "A"}, headers=headers)


def _limited(response: httpx.Response, code: str) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == code
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 300 and error["details"]["retry_after"] == retry_after


async def test_sign_ups_are_limited_per_client(client_at: Client) -> None:
    bulk = client_at("203.0.113.10")
    statuses = [(await _sign_up(bulk)).status_code for _ in range(3)]
    assert statuses == [201, 201, 201]
    _limited(await _sign_up(bulk), "rate_limited")
    # Another address is not affected.
    assert (await _sign_up(client_at("203.0.113.11"))).status_code == 201


async def test_spraying_one_password_across_emails_is_limited(client_at: Client) -> None:
    sprayer = client_at("203.0.113.20")
    for _ in range(6):
        response = await sprayer.post(LOGIN, json={**_new_user(), "password": "Summer2024!"})
        assert response.status_code == 401
    _limited(
        await sprayer.post(LOGIN, json={**_new_user(), "password": "Summer2024!"}), "rate_limited"
    )
    other = await client_at("203.0.113.21").post(LOGIN, json=_new_user())
    assert other.status_code == 401


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(client_at: Client) -> None:
    # From loopback (FORWARDED_ALLOW_IPS' default) the proxy's header names the client.
    proxy = client_at("127.0.0.1")
    for client in ("198.51.100.1", "198.51.100.2"):
        for _ in range(3):
            created = await _sign_up(proxy, **{"X-Forwarded-For": f"6.6.6.6, {client}"})
            assert created.status_code == 201
        _limited(await _sign_up(proxy, **{"X-Forwarded-For": client}), "rate_limited")
    # From anywhere else the header is the client's own claim: changing it gains nothing.
    spoofer = client_at("203.0.113.30")
    statuses = [
        (await _sign_up(spoofer, **{"X-Forwarded-For": f"198.51.100.{n}"})).status_code
        for n in range(10, 14)
    ]
    assert statuses == [201, 201, 201, 429]


async def test_an_attacker_cannot_lock_the_owner_out(client_at: Client) -> None:
    owner_phone = client_at("203.0.113.40")
    created = await owner_phone.post(REGISTER, json={**_new_user(), "display_name": "Meera"})
    assert created.status_code == 201
    email = created.json()["user"]["email"]
    creds = {"email": email, "password": PASSWORD}
    assert (await owner_phone.post(LOGIN, json=creds)).status_code == 200  # a known device now

    attacker = client_at("198.51.100.66")
    for _ in range(3):
        guess = await attacker.post(LOGIN, json={**creds, "password": "guess guess"})
        assert guess.status_code == 401
    _limited(await attacker.post(LOGIN, json=creds), "too_many_login_attempts")
    # The attacker moves to other addresses: the account is closed to them too...
    for n in range(3):
        moved = await client_at(f"198.51.100.{70 + n}").post(LOGIN, json=creds)
        _limited(moved, "too_many_login_attempts")
    # ... but not to the owner's known device, with the right password.
    ok = await owner_phone.post(LOGIN, json=creds)
    assert ok.status_code == 200 and ok.json()["user"]["email"] == email
    # A known device still has its own budget for wrong passwords.
    for _ in range(3):
        wrong = await owner_phone.post(LOGIN, json={**creds, "password": "not it at all"})
        assert wrong.status_code == 401
    _limited(await owner_phone.post(LOGIN, json=creds), "too_many_login_attempts")
