"""Accounts: register, login, throttling, refresh rotation, logout, and token abuse."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import jwt
import pytest

from models import Organization, RefreshToken, User
from server.config import Settings
from tests.conftest import TEST_JWT_SECRET, Api, make_settings

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(mongo_url, tmp_path_factory.mktemp("data"), login_max_failures=3)


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"])
    return dict(body["error"])


async def test_register_returns_auth_answer_and_lowercases_email(api: Api) -> None:
    response = await api.client.post(
        REGISTER,
        json={
            "email": "Ravi.K@Example.COM",
            "password": "longenough1",
            "display_name": "Ravi",
            "exam": "JEE",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["user"]["email"] == "ravi.k@example.com"
    assert body["user"]["role"] == "learner"
    assert body["user"]["profile"]["display_name"] == "Ravi"
    assert body["user"]["profile"]["exam"] == "JEE"
    assert body["user"]["memory"] == {"weak_topics": []}
    assert "password_hash" not in json.dumps(body)
    default_org = await Organization.find_one(Organization.slug == "default")
    assert default_org is not None and body["user"]["org_id"] == str(default_org.id)
    me = await api.client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == body["user"]["id"]


async def test_password_is_hashed_with_argon2id_at_owasp_parameters(api: Api) -> None:
    data = await api.register()
    user = await User.find_one(User.email == data["user"]["email"])
    assert user is not None and user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert data["password"] not in user.password_hash


async def test_duplicate_email_is_409_case_insensitively(api: Api) -> None:
    data = await api.register(email="dup@example.com")
    assert data["user"]["email"] == "dup@example.com"
    response = await api.client.post(
        REGISTER, json={"email": "DUP@example.com", "password": "longenough1", "display_name": "X"}
    )
    assert response.status_code == 409
    assert _error(response)["code"] == "email_taken"
    assert await User.find(User.email == "dup@example.com").count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com", "password": "short7!", "display_name": "A"},
        {"email": "a@example.com", "password": "p" * 129, "display_name": "A"},
        {"email": {"$ne": None}, "password": "longenough1", "display_name": "A"},
        {"email": "a@example.com", "password": {"$gt": ""}, "display_name": "A"},
        {"email": "a@example.com", "password": "longenough1", "display_name": 42},
        {"email": "not-an-email", "password": "longenough1", "display_name": "A"},
        {"email": "a@example.com", "password": "longenough1"},
        {"email": "a@example.com", "password": "longenough1", "display_name": "A", "role": "admin"},
        {
            "email": "a@example.com",
            "password": "longenough1",
            "display_name": "A",
            "org_id": "65f000000000000000000000",
        },
        {"email": "a@example.com", "password": "longenough1", "display_name": "   "},
        ["not", "an", "object"],
    ],
)
async def test_bad_registration_is_422_and_stores_nothing(api: Api, body: Any) -> None:
    response = await api.client.post(REGISTER, json=body)
    assert response.status_code == 422, response.text
    error = _error(response)
    assert error["code"] == "validation_error"
    assert error["details"]["fields"], error
    assert await User.find(User.email == "a@example.com").count() == 0


async def test_passwords_are_never_truncated(api: Api) -> None:
    password = "x" * 127 + "A"
    data = await api.register(password=password)
    email = data["user"]["email"]
    wrong = await api.client.post(LOGIN, json={"email": email, "password": "x" * 127 + "B"})
    assert wrong.status_code == 401
    right = await api.client.post(LOGIN, json={"email": email, "password": password})
    assert right.status_code == 200


async def test_register_into_an_organization_by_slug(api: Api) -> None:
    open_org = await Organization(name="Allen Kota", slug="allen-kota").insert()
    await Organization(name="Closed", slug="closed-org", signup_open=False).insert()
    data = await api.register(org_slug="allen-kota")
    assert data["user"]["org_id"] == str(open_org.id)
    for slug in ("closed-org", "no-such-org"):
        response = await api.client.post(
            REGISTER,
            json={
                "email": f"{slug}@example.com",
                "password": "longenough1",
                "display_name": "A",
                "org_slug": slug,
            },
        )
        assert response.status_code == 422
        assert _error(response)["code"] == "org_not_joinable"
        assert await User.find(User.email == f"{slug}@example.com").count() == 0


async def test_login_success_and_identical_failures(api: Api) -> None:
    data = await api.register()
    email = data["user"]["email"]
    ok = await api.client.post(LOGIN, json={"email": email.upper(), "password": data["password"]})
    assert ok.status_code == 200
    assert ok.json()["user"]["id"] == data["user"]["id"]
    wrong = await api.client.post(LOGIN, json={"email": email, "password": "wrong password"})
    unknown = await api.client.post(
        LOGIN, json={"email": "nobody@example.com", "password": "wrong password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert _error(wrong)["code"] == "invalid_credentials"


async def test_login_is_throttled_per_account(api: Api) -> None:
    data = await api.register()
    email = data["user"]["email"]
    for _ in range(3):
        response = await api.client.post(LOGIN, json={"email": email, "password": "bad password"})
        assert response.status_code == 401
    locked = await api.client.post(LOGIN, json={"email": email, "password": data["password"]})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
    assert _error(locked)["code"] == "too_many_login_attempts"
    # Another account is not affected.
    other = await api.register()
    ok = await api.client.post(
        LOGIN, json={"email": other["user"]["email"], "password": other["password"]}
    )
    assert ok.status_code == 200


async def test_unknown_emails_are_throttled_alike(api: Api) -> None:
    statuses = []
    for _ in range(4):
        response = await api.client.post(
            LOGIN, json={"email": "ghost@example.com", "password": "bad password"}
        )
        statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429]


async def test_refresh_rotates_and_reuse_revokes_the_family(api: Api) -> None:
    data = await api.register()
    first = data["refresh_token"]
    rotated = await api.client.post(REFRESH, json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first and rotated.json()["access_token"]
    reuse = await api.client.post(REFRESH, json={"refresh_token": first})
    assert reuse.status_code == 401
    assert _error(reuse)["code"] == "refresh_token_reused"
    # The thief's use of the old token ended the whole family, the new token included.
    after = await api.client.post(REFRESH, json={"refresh_token": second})
    assert after.status_code == 401
    stored = await RefreshToken.find(RefreshToken.user_id == _oid(data)).to_list()
    assert stored and all(t.revoked_at is not None for t in stored)
    assert all(t.token_hash not in (first, second) for t in stored)


def _oid(data: dict[str, Any]) -> Any:
    from beanie import PydanticObjectId

    return PydanticObjectId(data["user"]["id"])


async def test_concurrent_refresh_spends_a_token_once(api: Api) -> None:
    """At most one refresh wins; the others are reuse, which ends the session: the winner's new
    pair dies with it, whichever order the rotation and the revocation ran in."""
    data = await api.register()
    results = await asyncio.gather(
        *[api.client.post(REFRESH, json={"refresh_token": data["refresh_token"]}) for _ in range(8)]
    )
    assert sorted(r.status_code for r in results).count(200) <= 1
    assert {_error(r)["code"] for r in results if r.status_code != 200} <= {
        "refresh_token_reused",
        "session_revoked",
    }
    stored = await RefreshToken.find(RefreshToken.user_id == _oid(data)).to_list()
    assert stored and all(t.revoked_at is not None for t in stored)
    for won in (r.json() for r in results if r.status_code == 200):
        me = await api.client.get(ME, headers={"Authorization": f"Bearer {won['access_token']}"})
        assert me.status_code == 401 and _error(me)["code"] == "session_revoked"
        again = await api.client.post(REFRESH, json={"refresh_token": won["refresh_token"]})
        assert again.status_code == 401 and _error(again)["code"] == "session_revoked"


async def test_logout_spends_the_refresh_token(api: Api) -> None:
    data = await api.register()
    out = await api.client.post(LOGOUT, json={"refresh_token": data["refresh_token"]})
    assert out.status_code == 204
    again = await api.client.post(REFRESH, json={"refresh_token": data["refresh_token"]})
    assert again.status_code == 401


def _forge(claims: dict[str, Any], *, secret: str = TEST_JWT_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


def _claims(data: dict[str, Any], **over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "starguide",
        "aud": "starguide-api",
        "sub": data["user"]["id"],
        "iat": now,
        "exp": now + 600,
        "jti": "j1",
        "typ": "access",
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _alg_none(claims: dict[str, Any]) -> str:
    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_token_abuse_is_401(api: Api) -> None:
    data = await api.register()
    good = _forge(_claims(data))
    assert (
        await api.client.get(ME, headers={"Authorization": f"Bearer {good}"})
    ).status_code == 200
    bad_tokens = {
        "refresh as access": data["refresh_token"],
        "wrong secret": _forge(_claims(data), secret="another-secret-" + "y" * 40),
        "alg none": _alg_none(_claims(data)),
        "HS512": _forge(_claims(data), alg="HS512"),
        "expired": _forge(_claims(data, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
        "wrong audience": _forge(_claims(data, aud="someone-else")),
        "wrong issuer": _forge(_claims(data, iss="evil")),
        "no type": _forge(_claims(data, typ=None)),
        "no jti": _forge(_claims(data, jti=None)),
        "unknown user": _forge(_claims(data, sub="65f000000000000000000000")),
        "not an id": _forge(_claims(data, sub="user_123")),
        "garbage": "not.a.jwt",
    }
    for name, token in bad_tokens.items():
        response = await api.client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert _error(response)["code"] in {"invalid_token", "token_expired"}, name
    expired = await api.client.get(ME, headers={"Authorization": f"Bearer {bad_tokens['expired']}"})
    assert _error(expired)["code"] == "token_expired"
    missing = await api.client.get(ME)
    assert missing.status_code == 401 and _error(missing)["code"] == "missing_token"
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    as_refresh = await api.client.post(REFRESH, json={"refresh_token": data["access_token"]})
    assert as_refresh.status_code == 401


async def test_disabled_user_is_locked_out(api: Api) -> None:
    data = await api.register()
    await User.find_one(User.id == _oid(data)).update({"$set": {"disabled": True}})
    me = await api.client.get(ME, headers=data["auth"])
    assert me.status_code == 401
    login = await api.client.post(
        LOGIN, json={"email": data["user"]["email"], "password": data["password"]}
    )
    assert login.status_code == 403 and _error(login)["code"] == "account_disabled"
    refresh = await api.client.post(REFRESH, json={"refresh_token": data["refresh_token"]})
    assert refresh.status_code == 401


async def test_parallel_guesses_cannot_slip_past_the_limit(api: Api) -> None:
    data = await api.register()
    email = data["user"]["email"]
    results = await asyncio.gather(
        *[
            api.client.post(LOGIN, json={"email": email, "password": f"guess {i}"})
            for i in range(10)
        ]
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(401) == 3 and statuses.count(429) == 7


async def test_refresh_and_logout_reject_bad_bodies(api: Api) -> None:
    data = await api.register()
    for path in (REFRESH, LOGOUT):
        for body in ({"refresh_token": {"$ne": None}}, {"refresh_token": ""}, {}, {"x": 1}):
            response = await api.client.post(path, json=body)
            assert response.status_code == 422, (path, body)
        for token in ("garbage", data["access_token"]):
            response = await api.client.post(path, json={"refresh_token": token})
            assert response.status_code == 401, (path, token[:8])
    # None of that spent or revoked the real refresh token.
    ok = await api.client.post(REFRESH, json={"refresh_token": data["refresh_token"]})
    assert ok.status_code == 200
