"""Organizations (providers, budgets), the usage report and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from beanie import PydanticObjectId
from pydantic import ValidationError

from models import AiUsageDay, AuditLog, Organization
from models.ai_usage import ProviderUsage
from server.admin import usage as usage_report
from server.config import Settings
from tests.admin.helpers import BASE, World, build_world
from tests.chat.helpers import message_body, new_conversation
from tests.conftest import Api, make_settings


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await build_world(api, "north-ops")


async def _create_org(api: Api, world: World, **body: Any) -> Any:
    return await api.client.post(f"{BASE}/admin/orgs", json=body, headers=world.root["auth"])


async def test_create_and_update_an_organization(api: Api, world: World) -> None:
    slug = f"org-{uuid.uuid4().hex[:6]}"
    created = await _create_org(
        api, world, name="Vidya Coaching", slug=slug, allowed_providers=["offline", "openai"]
    )
    assert created.status_code == 201, created.text
    org = created.json()
    assert org["allowed_providers"] == ["offline", "openai"] and org["signup_open"] is True
    duplicate = await _create_org(api, world, name="Other", slug=slug)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "org_slug_taken"
    patched = await api.client.patch(
        f"{BASE}/admin/orgs/{org['id']}",
        json={"daily_ai_budget_usd": 2.5, "allowed_providers": None, "signup_open": False},
        headers=world.root["auth"],
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["daily_ai_budget_usd"] == 2.5
    assert patched.json()["allowed_providers"] is None and patched.json()["signup_open"] is False
    closed = await api.client.post(
        f"{BASE}/auth/register",
        json={
            "email": f"{slug}@example.com",
            "password": "correct horse battery",
            "display_name": "A",
            "org_slug": slug,
        },
    )
    assert closed.status_code == 422 and closed.json()["error"]["code"] == "org_not_joinable"
    entry = await AuditLog.find_one({"action": "org.update", "target_id": org["id"]})
    assert entry is not None
    assert entry.details["changes"]["daily_ai_budget_usd"] == {"from": None, "to": 2.5}
    assert set(entry.details["changes"]) == {
        "daily_ai_budget_usd",
        "allowed_providers",
        "signup_open",
    }


async def test_bad_organization_input_is_refused(api: Api, world: World) -> None:
    body: dict[str, Any]
    for body in (
        {"name": "X", "slug": "Bad Slug"},
        {"name": "X", "slug": "ok-slug", "allowed_providers": ["openai", "skynet"]},
        {"name": "X", "slug": "ok-slug", "daily_ai_budget_usd": -1},
        {"name": "", "slug": "ok-slug"},
        {"name": "X", "slug": {"$ne": None}},
        {"name": "X", "slug": "ok-slug", "owner": "me"},
    ):
        refused = await _create_org(api, world, **body)
        assert refused.status_code == 422, body
    for body in ({"name": None}, {"signup_open": None}, {"signup_open": "no"}):
        refused = await api.client.patch(
            f"{BASE}/admin/orgs/{world.north['id']}", json=body, headers=world.root["auth"]
        )
        assert refused.status_code == 422, body
    for org_id in ("000000000000000000000000", "zzz"):
        gone = await api.client.get(f"{BASE}/admin/orgs/{org_id}", headers=world.root["auth"])
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "org_not_found"


async def test_an_organization_budget_applies_to_its_learners(api: Api, world: World) -> None:
    slug = f"zero-{uuid.uuid4().hex[:6]}"
    created = await _create_org(api, world, name="Zero Budget", slug=slug, daily_ai_budget_usd=0)
    assert created.status_code == 201
    learner = await api.register(org_slug=slug)
    conversation = await new_conversation(api.client, learner["auth"])
    sent = await api.client.post(
        f"{BASE}/conversations/{conversation}/messages",
        json=message_body("What is inertia?"),
        headers=learner["auth"],
    )
    assert sent.status_code == 429 and sent.json()["error"]["code"] == "ai_budget_exceeded"


async def test_an_org_admin_cannot_raise_the_budget_above_the_ceiling(
    api: Api, world: World, app_settings: Settings
) -> None:
    """The deployment pays the AI bill: an organization's admin may lower its learners' budget
    down to 0, but not raise it past AI_MAX_DAILY_BUDGET_USD; deployment admins may."""
    ceiling = app_settings.ai_max_daily_budget_usd
    assert ceiling == 5.0  # the default
    url = f"{BASE}/admin/orgs/{world.north['id']}"
    own = world.north_admin["auth"]
    audited = await AuditLog.find({"action": "org.update"}).count()
    budget: float | None
    for budget in (100_000, ceiling + 0.01):
        refused = await api.client.patch(url, json={"daily_ai_budget_usd": budget}, headers=own)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "budget_above_ceiling"
        assert error["details"]["max_daily_ai_budget_usd"] == ceiling
    stored = await Organization.get(PydanticObjectId(world.north["id"]))
    assert stored is not None and stored.daily_ai_budget_usd is None
    assert await AuditLog.find({"action": "org.update"}).count() == audited
    for budget in (ceiling, 0.25, 0, None):
        allowed = await api.client.patch(url, json={"daily_ai_budget_usd": budget}, headers=own)
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["daily_ai_budget_usd"] == budget
    # A deployment admin may set any budget, and the org admin may still edit other fields.
    raised = await api.client.patch(
        url, json={"daily_ai_budget_usd": 250}, headers=world.root["auth"]
    )
    assert raised.status_code == 200 and raised.json()["daily_ai_budget_usd"] == 250
    renamed = await api.client.patch(url, json={"name": "North Academy"}, headers=own)
    assert renamed.status_code == 200 and renamed.json()["daily_ai_budget_usd"] == 250
    await api.client.patch(url, json={"daily_ai_budget_usd": None}, headers=world.root["auth"])


def test_the_budget_ceiling_is_never_below_the_default_budget(tmp_path: Path) -> None:
    def settings(**values: Any) -> Settings:
        return make_settings("mongodb://unused", tmp_path, **values)

    assert settings().ai_max_daily_budget_usd == 5.0
    # Unset, the ceiling follows a higher default budget, and "no limit" means no ceiling.
    assert settings(ai_daily_budget_usd=20).ai_max_daily_budget_usd == 20
    assert settings(ai_daily_budget_usd="none").ai_max_daily_budget_usd is None
    assert (
        settings(ai_daily_budget_usd=2, ai_max_daily_budget_usd="none").ai_max_daily_budget_usd
        is None
    )
    assert settings(ai_daily_budget_usd=2, ai_max_daily_budget_usd=2).ai_max_daily_budget_usd == 2
    for values in (
        {"ai_daily_budget_usd": 3, "ai_max_daily_budget_usd": 2},
        {"ai_daily_budget_usd": "none", "ai_max_daily_budget_usd": 10},
        {"ai_max_daily_budget_usd": -1},
    ):
        with pytest.raises(ValidationError, match=r"AI_MAX_DAILY_BUDGET_USD|greater than"):
            settings(**values)


async def _usage(org_id: str, day: str, provider: str, **counts: Any) -> None:
    usage = ProviderUsage(**counts)
    await AiUsageDay(
        user_id=PydanticObjectId(),
        org_id=PydanticObjectId(org_id),
        day=day,
        requests=usage.requests,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=usage.cost_usd,
        providers={provider: usage},
    ).insert()


async def test_usage_report_sums_per_provider_per_day(api: Api, world: World) -> None:
    north, home = world.north["id"], world.root["user"]["org_id"]
    await _usage(
        north, "2025-03-01", "openai", requests=2, input_tokens=100, output_tokens=50, cost_usd=0.25
    )
    await _usage(
        north, "2025-03-01", "openai", requests=1, input_tokens=10, output_tokens=5, cost_usd=0.5
    )
    await _usage(
        north, "2025-03-01", "gemini", requests=1, input_tokens=7, output_tokens=3, cost_usd=0.125
    )
    await _usage(
        north, "2025-03-02", "openai", requests=4, input_tokens=40, output_tokens=20, cost_usd=1.0
    )
    await _usage(
        home,
        "2025-03-01",
        "anthropic",
        requests=9,
        input_tokens=900,
        output_tokens=90,
        cost_usd=3.0,
    )
    await _usage(
        north, "2025-02-28", "openai", requests=100, input_tokens=1, output_tokens=1, cost_usd=9.0
    )  # outside the window
    query = {"from": "2025-03-01", "to": "2025-03-02"}
    mine = await api.client.get(
        f"{BASE}/admin/usage", params=query, headers=world.north_admin["auth"]
    )
    assert mine.status_code == 200, mine.text
    report = mine.json()
    assert (report["from"], report["to"], report["org_id"]) == ("2025-03-01", "2025-03-02", north)
    rows = [
        (
            r["day"],
            r["provider"],
            r["requests"],
            r["input_tokens"],
            r["output_tokens"],
            r["cost_usd"],
        )
        for r in report["items"]
    ]
    assert rows == [
        ("2025-03-01", "gemini", 1, 7, 3, 0.125),
        ("2025-03-01", "openai", 3, 110, 55, 0.75),
        ("2025-03-02", "openai", 4, 40, 20, 1.0),
    ]
    totals = {t["provider"]: (t["requests"], t["cost_usd"]) for t in report["totals"]}
    assert totals == {"gemini": (1, 0.125), "openai": (7, 1.75)}
    everything = await api.client.get(
        f"{BASE}/admin/usage", params=query, headers=world.root["auth"]
    )
    assert {r["provider"] for r in everything.json()["items"]} == {"gemini", "openai", "anthropic"}
    only_home = await api.client.get(
        f"{BASE}/admin/usage", params={**query, "org_id": home}, headers=world.root["auth"]
    )
    assert [r["provider"] for r in only_home.json()["items"]] == ["anthropic"]
    other = await api.client.get(
        f"{BASE}/admin/usage", params={**query, "org_id": home}, headers=world.north_admin["auth"]
    )
    assert other.status_code == 404


async def test_usage_report_counts_real_chat_and_refuses_bad_ranges(api: Api, world: World) -> None:
    learner = world.north_learner
    conversation = await new_conversation(api.client, learner["auth"])
    sent = await api.client.post(
        f"{BASE}/conversations/{conversation}/messages",
        json=message_body("Explain Newton's second law"),
        headers=learner["auth"],
    )
    assert sent.status_code == 201, sent.text
    report = await api.client.get(f"{BASE}/admin/usage", headers=world.north_admin["auth"])
    offline = [r for r in report.json()["totals"] if r["provider"] == "offline"]
    assert offline and offline[0]["requests"] >= 1 and offline[0]["output_tokens"] > 0
    for params in (
        {"from": "2025-03-05", "to": "2025-03-01"},
        {"from": "2023-01-01", "to": "2025-01-01"},
        {"from": "yesterday"},
    ):
        bad = await api.client.get(f"{BASE}/admin/usage", params=params, headers=world.root["auth"])
        assert bad.status_code == 422, params


async def test_audit_log_pages_and_never_holds_secrets_or_content(api: Api, world: World) -> None:
    email = f"audit-{uuid.uuid4().hex[:6]}@example.com"
    account = await api.register(email=email, password="a very secret passphrase 42")
    wrong = await api.client.post(
        f"{BASE}/auth/login", json={"email": email, "password": "not the passphrase at all"}
    )
    assert wrong.status_code == 401
    ok = await api.client.post(
        f"{BASE}/auth/login", json={"email": email, "password": "a very secret passphrase 42"}
    )
    assert ok.status_code == 200
    conversation = await new_conversation(api.client, account["auth"])
    secret_question = f"confidential question {uuid.uuid4().hex}"
    await api.client.post(
        f"{BASE}/conversations/{conversation}/messages",
        json=message_body(secret_question),
        headers=account["auth"],
    )
    entries: list[dict[str, Any]] = []
    cursor = None
    raw = ""
    while True:
        page = await api.client.get(
            f"{BASE}/admin/audit",
            params={"limit": 7, **({"cursor": cursor} if cursor else {})},
            headers=world.root["auth"],
        )
        assert page.status_code == 200, page.text
        raw += page.text
        entries += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len({e["id"] for e in entries}) == len(entries) == await AuditLog.count()
    times = [datetime.fromisoformat(e["created_at"]) for e in entries]
    assert times == sorted(times, reverse=True)
    mine = [e for e in entries if e["actor_id"] == account["user"]["id"]]
    logins = sorted(e["outcome"] for e in mine if e["action"] == "auth.login")
    assert logins == ["failure", "success"]
    for forbidden in (
        "very secret passphrase",
        "not the passphrase",
        secret_question,
        account["access_token"],
        account["refresh_token"],
        "argon2",
    ):
        assert forbidden not in raw
    north_only = await api.client.get(
        f"{BASE}/admin/audit?limit=100", headers=world.north_admin["auth"]
    )
    assert {e["org_id"] for e in north_only.json()["items"]} == {world.north["id"]}
    filtered = await api.client.get(
        f"{BASE}/admin/audit", params={"action": "org.create"}, headers=world.root["auth"]
    )
    assert {e["action"] for e in filtered.json()["items"]} == {"org.create"}


@pytest.mark.parametrize(
    ("now", "last_day"),
    [
        ("2026-12-02T10:00:00+00:00", "2026-12-03"),  # already the 3rd east of UTC+10
        ("2026-12-02T19:00:00+00:00", "2026-12-03"),  # IST's day has turned (00:30 on the 3rd)
        ("2026-12-02T00:30:00+00:00", "2026-12-02"),
    ],
)
def test_the_default_report_window_ends_on_the_latest_local_day(now: str, last_day: str) -> None:
    """Usage days are the learners' local days: the default window holds today for every time
    zone (it ended on UTC's date, so India's use vanished from the report after 18:30 UTC)."""
    start, end = usage_report.window(None, None, now=datetime.fromisoformat(now))
    assert end.isoformat() == last_day
    assert (end - start).days == usage_report.DEFAULT_DAYS - 1
