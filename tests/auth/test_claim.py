"""Claiming an imported account: an invitation by mail (a real SMTP server receives it), then
the claim, which keeps the learner's history, memory and progress."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from beanie import PydanticObjectId

from models import AuditLog, Organization, PasswordResetToken, User
from models.common import utcnow
from scripts import import_profiles
from scripts._runtime import Summary
from server.config import Settings
from server.mail import service as mail_service
from server.memory.taxonomy import load_taxonomy
from server.orgs import service as orgs_service
from tests.admin.helpers import build_world, set_role
from tests.conftest import Api, make_settings
from tests.mail.smtp import Inbox, body_text, smtp_inbox

__all__ = ["smtp_inbox"]  # the fixture, for this module

BASE = "/api/v1"
PUBLIC_URL = "https://learn.example.org"
TOKEN_RE = re.compile(re.escape(PUBLIC_URL) + r"/claim\?token=([A-Za-z0-9_\-]+)")
HISTORY = [
    {"role": "user", "content": "I don't understand torque"},
    {"role": "assistant", "content": "Torque is r x F, the turning effect of a force."},
]


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory, smtp_inbox: Inbox
) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("claim"),
        smtp_url=smtp_inbox.url,
        public_url=PUBLIC_URL,
        password_reset_rate_limit="100000/hour",
        claim_invite_user_limit="3/hour",
    )


@pytest.fixture(scope="module")
async def world(api: Api) -> Any:
    return await build_world(api, f"north-{uuid.uuid4().hex[:6]}")


def _email() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.com"


async def _org(slug: str | None, settings: Settings) -> Organization:
    if slug is None:
        return await orgs_service.ensure_default_org(
            slug=settings.default_org_slug, name=settings.default_org_name
        )
    org = await orgs_service.find_by_slug(slug=slug)
    assert org is not None
    return org


async def _imported(app: Any, *, org_slug: str | None = None, **fields: Any) -> User:
    """A learner as `import_profiles` creates one: placeholder email, no password."""
    settings: Settings = app.state.ctx.settings
    profile = import_profiles.LegacyProfile.model_validate(
        {
            "user_id": f"legacy_{uuid.uuid4().hex[:8]}",
            "name": "Ravi",
            "weak_topics": ["Rotational Motion"],
            "history": HISTORY,
            **fields,
        }
    )
    return await import_profiles.import_one(
        profile,
        name="ravi.json",
        org=await _org(org_slug, settings),
        taxonomy=load_taxonomy(),
        dry_run=False,
        summary=Summary("test"),
    )


async def _invite(api: Api, caller: dict[str, Any], user: User, email: str) -> Any:
    return await api.client.post(
        f"{BASE}/admin/users/{user.id}/claim-invite", json={"email": email}, headers=caller["auth"]
    )


async def _invited_token(
    api: Api, inbox: Inbox, caller: dict[str, Any], user: User, email: str
) -> str:
    count = len(inbox.to(email)) + 1
    response = await _invite(api, caller, user, email)
    assert response.status_code == 201, response.text
    messages = await inbox.wait_for(email, count)
    match = TOKEN_RE.search(body_text(messages[count - 1]))
    assert match, "no claim link in the mail"
    return match.group(1)


async def _claim(api: Api, token: str, password: str = "my own passphrase", **extra: Any) -> Any:
    return await api.client.post(
        f"{BASE}/auth/claim", json={"token": token, "password": password, **extra}
    )


async def test_claim_by_mail_keeps_history_memory_and_progress(
    api: Api, app: Any, world: Any, smtp_inbox: Inbox
) -> None:
    user = await _imported(app)
    assert user.id is not None
    await app.state.ctx.progress.award(user=user, amount=40, source="test", source_id="before")
    email = _email()

    response = await _invite(api, world.root, user, email)
    assert response.status_code == 201, response.text
    assert response.json()["expires_at"]
    message = (await smtp_inbox.wait_for(email))[0]
    match = TOKEN_RE.search(body_text(message))
    assert match
    token = match.group(1)
    html = message.get_body(preferencelist=("html",))
    assert html is not None and token in html.get_content()
    assert await PasswordResetToken.find_one({"token_hash": token}) is None  # stored hashed

    claimed = await _claim(api, token, display_name="Ravi Kumar")
    assert claimed.status_code == 200, claimed.text
    answer = claimed.json()
    assert answer["user"]["id"] == str(user.id)
    assert answer["user"]["email"] == email
    assert answer["user"]["profile"]["display_name"] == "Ravi Kumar"
    assert answer["user"]["memory"]["weak_topics"], "the imported memory is gone"
    auth = {"Authorization": f"Bearer {answer['access_token']}"}
    conversations = await api.client.get(f"{BASE}/conversations", headers=auth)
    assert [c["title"] for c in conversations.json()["items"]] == ["Imported history"]
    assert await app.state.ctx.progress.ledger_total(user_id=user.id) == 40

    login = await api.client.post(
        f"{BASE}/auth/login", json={"email": email, "password": "my own passphrase"}
    )
    assert login.status_code == 200, login.text
    assert login.json()["user"]["id"] == str(user.id)

    replay = await _claim(api, token, password="another passphrase")
    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "invalid_claim_token"
    again = await _invite(api, world.root, user, _email())
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "account_not_claimable"

    entries = await AuditLog.find(
        {"target_id": str(user.id), "action": {"$in": ["auth.claim_invite", "auth.claim"]}}
    ).to_list()
    assert sorted((e.action, str(e.actor_id)) for e in entries) == [
        ("auth.claim", str(user.id)),
        ("auth.claim_invite", world.id("root")),
    ]
    dumped = str([e.model_dump() for e in entries])
    assert token not in dumped and email not in dumped


async def test_a_claim_token_does_not_reset_a_password(
    api: Api, app: Any, world: Any, smtp_inbox: Inbox
) -> None:
    user = await _imported(app)
    token = await _invited_token(api, smtp_inbox, world.root, user, _email())
    response = await api.client.post(
        f"{BASE}/auth/password/reset", json={"token": token, "new_password": "a brand new secret"}
    )
    assert response.status_code == 400
    assert (await _claim(api, token)).status_code == 200


async def test_unknown_and_expired_tokens_are_refused(
    api: Api, app: Any, world: Any, smtp_inbox: Inbox
) -> None:
    user = await _imported(app)
    token = await _invited_token(api, smtp_inbox, world.root, user, _email())
    await PasswordResetToken.get_pymongo_collection().update_many(
        {"user_id": user.id}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )
    for candidate in (token, "not-a-token"):
        response = await _claim(api, candidate)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_claim_token"
    unchanged = await User.get(user.id)
    assert unchanged is not None and unchanged.password_hash is None


async def test_email_taken_meanwhile_leaves_account_and_link_as_they_were(
    api: Api, app: Any, world: Any, smtp_inbox: Inbox
) -> None:
    user = await _imported(app)
    email = _email()
    token = await _invited_token(api, smtp_inbox, world.root, user, email)
    other = await api.register(email=email)

    response = await _claim(api, token)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"
    unchanged = await User.get(user.id)
    assert unchanged is not None
    assert unchanged.email == user.email and unchanged.password_hash is None
    assert unchanged.profile.display_name == "Ravi"

    # The link was given back: once the address is free again, it works.
    await User.find_one(User.id == PydanticObjectId(other["user"]["id"])).update(
        {"$set": {"email": _email()}}
    )
    assert (await _claim(api, token)).status_code == 200


async def test_invitations_to_taken_emails_or_claimed_accounts_are_refused(
    api: Api, app: Any, world: Any
) -> None:
    user = await _imported(app)
    taken = await _invite(api, world.root, user, world.learner["user"]["email"])
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "email_taken"
    registered = await api.client.post(
        f"{BASE}/admin/users/{world.id('learner')}/claim-invite",
        json={"email": _email()},
        headers=world.root["auth"],
    )
    assert registered.status_code == 409
    assert registered.json()["error"]["code"] == "account_not_claimable"
    bad = await _invite(api, world.root, user, "legacy-x@legacy.starguide.invalid")
    assert bad.status_code == 422


async def test_who_may_invite(api: Api, app: Any, world: Any) -> None:
    """Admins in their scope, and mentors for the learners of their own organization: an
    imported learner cannot sign in, so is in no study group, and a mentor of the same
    organization is the only mentor such a learner has."""
    user = await _imported(app)
    north_user = await _imported(app, org_slug=world.north["slug"])
    mentor = world.mentor
    same_org_mentor = await set_role(await api.register(), "mentor")

    async def status(caller: dict[str, Any], target: User) -> tuple[int, str]:
        response = await _invite(api, caller, target, _email())
        return response.status_code, response.json().get("error", {}).get("code", "")

    assert await status(world.learner, user) == (403, "forbidden")
    assert await status(world.north_mentor, user) == (404, "user_not_found")
    assert await status(world.north_admin, user) == (404, "user_not_found")
    assert await status(mentor, north_user) == (404, "user_not_found")
    assert await status(mentor, user) == (201, "")
    assert await status(same_org_mentor, user) == (201, "")
    assert await status(world.north_mentor, north_user) == (201, "")
    root_target = await api.client.post(
        f"{BASE}/admin/users/{world.id('root')}/claim-invite",
        json={"email": _email()},
        headers=mentor["auth"],
    )
    assert root_target.status_code == 404  # mentors reach learners only
    assert await status(world.north_admin, north_user) == (201, "")
    assert await status(world.root, north_user) == (201, "")
    missing = await api.client.post(
        f"{BASE}/admin/users/{PydanticObjectId()}/claim-invite",
        json={"email": _email()},
        headers=world.root["auth"],
    )
    assert missing.status_code == 404


async def test_a_new_invitation_replaces_the_earlier_one(
    api: Api, app: Any, world: Any, smtp_inbox: Inbox
) -> None:
    user = await _imported(app)
    first = await _invited_token(api, smtp_inbox, world.root, user, _email())
    second_email = _email()
    second = await _invited_token(api, smtp_inbox, world.root, user, second_email)
    assert (await _claim(api, first)).status_code == 400
    claimed = await _claim(api, second)
    assert claimed.status_code == 200
    assert claimed.json()["user"]["email"] == second_email


async def test_invitations_per_account_are_limited(api: Api, app: Any, world: Any) -> None:
    user = await _imported(app)
    codes = [(await _invite(api, world.root, user, _email())).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]


async def test_two_concurrent_claims_with_one_token_one_wins(
    api: Api, app: Any, world: Any, smtp_inbox: Inbox
) -> None:
    user = await _imported(app)
    token = await _invited_token(api, smtp_inbox, world.root, user, _email())
    responses = await asyncio.gather(
        *(_claim(api, token, password=f"passphrase number {n}") for n in range(2))
    )
    assert sorted(r.status_code for r in responses) == [200, 400]


async def test_password_follows_sign_up_rules(api: Api) -> None:
    response = await _claim(api, "whatever", password="short")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_production_without_smtp_warns(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    production = make_settings("mongodb://127.0.0.1:1", tmp_path, environment="production")
    with caplog.at_level(logging.WARNING, logger="starguide.mail"):
        mail_service.warn_if_outbox_in_production(production)
        mail_service.warn_if_outbox_in_production(
            production.model_copy(update={"smtp_url": "smtp://127.0.0.1:25"})
        )
        mail_service.warn_if_outbox_in_production(
            production.model_copy(update={"environment": "development"})
        )
    warnings = [r.getMessage() for r in caplog.records if r.name == "starguide.mail"]
    assert len(warnings) == 1 and "SMTP_URL is not set in production" in warnings[0]
