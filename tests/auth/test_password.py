"""Password reset by mail (a real SMTP server receives it) and password change."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from models import AuditLog, PasswordResetToken
from models.common import utcnow
from server.config import Settings
from tests.conftest import Api, _drop, make_settings
from tests.mail.smtp import Inbox, body_text, smtp_inbox

__all__ = ["smtp_inbox"]  # the fixture, for this module

PUBLIC_URL = "https://app.example.org"
TOKEN_RE = re.compile(re.escape(PUBLIC_URL) + r"/reset\?token=([A-Za-z0-9_\-]+)")


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory, smtp_inbox: Inbox
) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("password"),
        smtp_url=smtp_inbox.url,
        public_url=PUBLIC_URL + "/",
        password_reset_rate_limit="100000/hour",
        password_reset_address_limit="3/hour",
    )


def _email() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.com"


async def _login(api: Api, email: str, password: str) -> dict[str, Any]:
    response = await api.client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    data["auth"] = {"Authorization": f"Bearer {data['access_token']}"}
    return data


async def _forgot(api: Api, email: str) -> None:
    response = await api.client.post("/api/v1/auth/password/forgot", json={"email": email})
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted"}  # the same for every email


async def _mailed_token(inbox: Inbox, email: str, count: int = 1) -> str:
    messages = await inbox.wait_for(email, count)
    match = TOKEN_RE.search(body_text(messages[count - 1]))
    assert match, "no reset link in the mail"
    return match.group(1)


async def _me_status(api: Api, auth: dict[str, str]) -> tuple[int, str | None]:
    response = await api.client.get("/api/v1/users/me", headers=auth)
    code = response.json().get("error", {}).get("code") if response.status_code != 200 else None
    return response.status_code, code


async def test_reset_by_mail_works_once_and_ends_other_sessions(
    api: Api, smtp_inbox: Inbox
) -> None:
    email = _email()
    first = await api.register(email=email)
    second = await _login(api, email, first["password"])
    await _forgot(api, email)
    token = await _mailed_token(smtp_inbox, email)
    assert await PasswordResetToken.find_one({"token_hash": token}) is None  # stored hashed

    response = await api.client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": "a brand new secret"}
    )
    assert response.status_code == 200, response.text
    fresh = response.json()
    assert fresh["user"]["id"] == first["user"]["id"]
    assert await _me_status(api, {"Authorization": f"Bearer {fresh['access_token']}"}) == (
        200,
        None,
    )
    for old in (first, second):
        assert await _me_status(api, old["auth"]) == (401, "session_revoked")
        refreshed = await api.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": old["refresh_token"]}
        )
        assert refreshed.status_code == 401
        assert refreshed.json()["error"]["code"] == "session_revoked"

    again = await api.client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": "another new secret"}
    )
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_reset_token"
    await _login(api, email, "a brand new secret")
    old_login = await api.client.post(
        "/api/v1/auth/login", json={"email": email, "password": first["password"]}
    )
    assert old_login.status_code == 401

    entries = await AuditLog.find({"action": "auth.password_reset"}).to_list()
    assert [str(e.actor_id) for e in entries] == [first["user"]["id"]]
    assert token not in str([e.model_dump() for e in entries])
    assert email not in str([e.model_dump() for e in entries])


async def test_unknown_email_gets_202_and_no_mail(api: Api, smtp_inbox: Inbox) -> None:
    email = _email()
    await _forgot(api, email)
    await asyncio.sleep(0.5)
    assert smtp_inbox.to(email) == []


async def test_unknown_and_expired_tokens_are_refused(api: Api, smtp_inbox: Inbox) -> None:
    email = _email()
    await api.register(email=email)
    await _forgot(api, email)
    token = await _mailed_token(smtp_inbox, email)
    await PasswordResetToken.get_pymongo_collection().update_many(
        {"used_at": None}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )
    for candidate in (token, "not-a-token"):
        response = await api.client.post(
            "/api/v1/auth/password/reset",
            json={"token": candidate, "new_password": "a brand new secret"},
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_reset_token"


async def test_two_concurrent_resets_with_one_token_one_wins(api: Api, smtp_inbox: Inbox) -> None:
    email = _email()
    await api.register(email=email)
    await _forgot(api, email)
    token = await _mailed_token(smtp_inbox, email)
    responses = await asyncio.gather(
        *(
            api.client.post(
                "/api/v1/auth/password/reset",
                json={"token": token, "new_password": f"new secret number {n}"},
            )
            for n in range(2)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 400]


async def test_new_password_follows_sign_up_rules(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/auth/password/reset", json={"token": "whatever", "new_password": "short"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_reset_mails_per_address_are_limited(api: Api, smtp_inbox: Inbox) -> None:
    email = _email()
    await api.register(email=email)
    for _ in range(4):
        await _forgot(api, email)  # 202 every time: the limit is not revealed either
    await smtp_inbox.wait_for(email, 3)
    await asyncio.sleep(0.5)
    assert len(smtp_inbox.to(email)) == 3


async def test_change_password_keeps_only_the_callers_session(api: Api) -> None:
    email = _email()
    first = await api.register(email=email)
    other = await _login(api, email, first["password"])

    wrong = await api.client.post(
        "/api/v1/auth/password/change",
        headers=first["auth"],
        json={"current_password": "not my password", "new_password": "a brand new secret"},
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "invalid_current_password"
    assert await _me_status(api, other["auth"]) == (200, None)

    response = await api.client.post(
        "/api/v1/auth/password/change",
        headers=first["auth"],
        json={"current_password": first["password"], "new_password": "a brand new secret"},
    )
    assert response.status_code == 204, response.text
    assert await _me_status(api, first["auth"]) == (200, None)
    assert await _me_status(api, other["auth"]) == (401, "session_revoked")
    await _login(api, email, "a brand new secret")
    entries = await AuditLog.find(
        {"action": "auth.password_change", "outcome": "success"}
    ).to_list()
    assert [str(e.actor_id) for e in entries] == [first["user"]["id"]]


async def test_change_password_needs_a_login(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/auth/password/change",
        json={"current_password": "whatever", "new_password": "a brand new secret"},
    )
    assert response.status_code == 401


async def test_reset_requests_per_client_are_limited(mongo_url: str, tmp_path: Path) -> None:
    """`PASSWORD_RESET_RATE_LIMIT` counts forgot and reset alike, known emails or not."""
    from server.app import create_app

    settings = make_settings(mongo_url, tmp_path, password_reset_rate_limit="2/hour")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            first = await client.post("/api/v1/auth/password/forgot", json={"email": _email()})
            second = await client.post(
                "/api/v1/auth/password/reset",
                json={"token": "nope", "new_password": "a brand new secret"},
            )
            third = await client.post("/api/v1/auth/password/forgot", json={"email": _email()})
    await _drop(settings, mongo_url)
    assert [first.status_code, second.status_code, third.status_code] == [202, 400, 429]
    assert third.json()["error"]["code"] == "rate_limited"
