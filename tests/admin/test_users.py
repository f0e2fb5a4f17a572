"""Listing, searching, role changes and disabling, each with its audit entry."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from beanie import PydanticObjectId

from models import AuditLog, User
from tests.admin.helpers import BASE, World, build_world
from tests.auth.test_auth import _claims, _forge
from tests.conftest import Api


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await build_world(api, "north-users")


async def _patch(api: Api, world: World, user_id: str, body: Any) -> Any:
    return await api.client.patch(
        f"{BASE}/admin/users/{user_id}", json=body, headers=world.root["auth"]
    )


async def test_cursor_pages_walk_every_user_once_newest_first(api: Api, world: World) -> None:
    tag = uuid.uuid4().hex[:6]
    made = [
        (await api.register(email=f"page-{tag}-{i}@example.com"))["user"]["id"] for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        query = f"?limit=2&q=page-{tag}" + (f"&cursor={cursor}" if cursor else "")
        page = await api.client.get(f"{BASE}/admin/users{query}", headers=world.root["auth"])
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))


async def test_search_by_email_prefix_name_and_id(api: Api, world: World) -> None:
    tag = uuid.uuid4().hex[:8]
    target = await api.register(email=f"Zed.{tag}@Example.com", display_name=f"Zubin {tag}")
    for q in (f"zed.{tag}", f"ZED.{tag}@example", f"zubin {tag}", f"ZUBIN {tag}", tag[:8]):
        found = await api.client.get(
            f"{BASE}/admin/users", params={"q": q}, headers=world.root["auth"]
        )
        assert [i["id"] for i in found.json()["items"]] == [target["user"]["id"]], q
    by_id = await api.client.get(
        f"{BASE}/admin/users", params={"q": target["user"]["id"]}, headers=world.root["auth"]
    )
    assert [i["id"] for i in by_id.json()["items"]] == [target["user"]["id"]]
    # Regex characters are literal text: they match nothing rather than everything.
    for q in (".*", "^", "(", "[a-z]+"):
        none = await api.client.get(
            f"{BASE}/admin/users", params={"q": q}, headers=world.root["auth"]
        )
        assert none.status_code == 200 and none.json()["items"] == [], q
    item = found.json()["items"][0]
    assert "password_hash" not in item and "memory" not in item
    assert item["has_password"] is True


async def test_role_filter_and_bad_list_queries(api: Api, world: World) -> None:
    mentors = await api.client.get(
        f"{BASE}/admin/users?role=mentor&limit=100", headers=world.root["auth"]
    )
    assert {i["role"] for i in mentors.json()["items"]} == {"mentor"}
    for query in ("limit=0", "limit=101", "cursor=not-a-cursor", "role=owner", "org_id=zzz"):
        bad = await api.client.get(f"{BASE}/admin/users?{query}", headers=world.root["auth"])
        assert bad.status_code == 422, query
        assert bad.json()["error"]["code"] in ("validation_error", "invalid_cursor")


async def test_role_change_takes_effect_and_is_audited(api: Api, world: World) -> None:
    someone = await api.register()
    user_id = someone["user"]["id"]
    refused = await api.client.get(f"{BASE}/admin/learners", headers=someone["auth"])
    assert refused.status_code == 403
    changed = await _patch(api, world, user_id, {"role": "mentor"})
    assert changed.status_code == 200 and changed.json()["role"] == "mentor"
    # The same access token now carries mentor rights: roles are read per request.
    allowed = await api.client.get(f"{BASE}/admin/learners", headers=someone["auth"])
    assert allowed.status_code == 200
    again = await _patch(api, world, user_id, {"role": "mentor"})
    assert again.status_code == 200
    entries = await AuditLog.find({"action": "user.role_change", "target_id": user_id}).to_list()
    assert len(entries) == 1, "a no-op change is not audited"
    assert entries[0].details == {"from": "learner", "to": "mentor"}
    assert str(entries[0].actor_id) == world.id("root")


async def test_disabling_ends_sessions_and_blocks_login(api: Api, world: World) -> None:
    someone = await api.register()
    user_id = someone["user"]["id"]
    credentials = {"email": someone["user"]["email"], "password": someone["password"]}
    disabled = await _patch(api, world, user_id, {"disabled": True})
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    me = await api.client.get(f"{BASE}/users/me", headers=someone["auth"])
    assert me.status_code == 401
    refresh = await api.client.post(
        f"{BASE}/auth/refresh", json={"refresh_token": someone["refresh_token"]}
    )
    assert refresh.status_code == 401
    login = await api.client.post(f"{BASE}/auth/login", json=credentials)
    assert login.status_code == 403 and login.json()["error"]["code"] == "account_disabled"
    enabled = await _patch(api, world, user_id, {"disabled": False})
    assert enabled.json()["disabled"] is False
    login = await api.client.post(f"{BASE}/auth/login", json=credentials)
    assert login.status_code == 200
    actions = [
        e.action
        async for e in AuditLog.find({"target_id": user_id}).sort("created_at")
        if e.action.startswith("user.")
    ]
    assert actions == ["user.register", "user.disable", "user.enable"]
    failures = await AuditLog.find(
        {"action": "auth.login", "actor_id": PydanticObjectId(user_id), "outcome": "failure"}
    ).to_list()
    assert [f.details for f in failures] == [{"reason": "account_disabled"}]


async def test_bad_patches_change_nothing(api: Api, world: World) -> None:
    target = world.id("learner")
    body: Any  # mixed dicts, and a list
    for body in (
        {"role": "owner"},
        {"disabled": "yes"},
        {"disabled": 1},
        {"email": "x@example.com"},
        {"org_id": world.north["id"]},
        [],
    ):
        bad = await _patch(api, world, target, body)
        assert bad.status_code == 422, body
    for missing in ("000000000000000000000000", "nope", "{$ne:1}"):
        gone = await _patch(api, world, missing, {"role": "admin"})
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "user_not_found"
    me = await api.client.get(f"{BASE}/users/me", headers=world.learner["auth"])
    assert me.json()["role"] == "learner" and me.json()["disabled"] is False


async def test_admins_cannot_demote_or_disable_themselves(api: Api, world: World) -> None:
    for body in ({"role": "learner"}, {"disabled": True}):
        refused = await _patch(api, world, world.id("root"), body)
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "cannot_change_self"
    same = await _patch(api, world, world.id("root"), {"role": "admin", "disabled": False})
    assert same.status_code == 200


async def test_reading_a_learner_is_audited_and_shows_memory_and_progress(
    api: Api, world: World
) -> None:
    target = world.id("learner")
    read = await api.client.get(f"{BASE}/admin/users/{target}", headers=world.mentor["auth"])
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["user"]["id"] == target
    assert "weak_topics" in body["memory"] and "xp" in body["progress"]
    entry = await AuditLog.find_one(
        {
            "action": "admin.read_user",
            "target_id": target,
            "actor_id": PydanticObjectId(world.id("mentor")),
        }
    )
    assert entry is not None and entry.details == {"view": "detail"}


async def test_admins_export_and_erase_a_user_on_request(api: Api, world: World) -> None:
    target = await api.register(org_slug=world.north["slug"], display_name="Leaving Learner")
    user_id = target["user"]["id"]
    exported = await api.client.get(
        f"{BASE}/admin/users/{user_id}/export", headers=world.north_admin["auth"]
    )
    assert exported.status_code == 200 and exported.json()["user"]["id"] == user_id
    erased = await api.client.delete(
        f"{BASE}/admin/users/{user_id}", headers=world.north_admin["auth"]
    )
    assert erased.status_code == 204
    assert await User.get(PydanticObjectId(user_id)) is None
    me = await api.client.get(f"{BASE}/users/me", headers=target["auth"])
    assert me.status_code == 401
    again = await api.client.delete(f"{BASE}/admin/users/{user_id}", headers=world.root["auth"])
    assert again.status_code == 404
    admin_id = PydanticObjectId(world.id("north_admin"))
    for action in ("privacy.export", "privacy.erase"):
        entry = await AuditLog.find_one({"action": action, "target_id": user_id})
        assert entry is not None and entry.actor_id == admin_id, action
    self_erase = await api.client.delete(
        f"{BASE}/admin/users/{world.id('root')}", headers=world.root["auth"]
    )
    assert self_erase.status_code == 422
    assert self_erase.json()["error"]["code"] == "cannot_change_self"


async def test_expired_tokens_and_oversized_queries_are_refused(api: Api, world: World) -> None:
    now = int(time.time())
    expired = _forge(_claims(world.root, iat=now - 7200, exp=now - 3600))
    for path in ("/admin/users", "/admin/audit", "/users/me/export"):
        refused = await api.client.get(BASE + path, headers={"Authorization": f"Bearer {expired}"})
        assert refused.status_code == 401, path
        assert refused.json()["error"]["code"] == "token_expired"
    for params in ({"q": "x" * 101}, {"cursor": "c" * 600}, {"org_id": "o" * 65}):
        too_big = await api.client.get(
            f"{BASE}/admin/users", params=params, headers=world.root["auth"]
        )
        assert too_big.status_code == 422, params
    huge = await api.client.patch(
        f"{BASE}/admin/orgs/{world.north['id']}",
        json={"name": "n" * 121},
        headers=world.root["auth"],
    )
    assert huge.status_code == 422
    org = await api.client.get(f"{BASE}/admin/orgs/{world.north['id']}", headers=world.root["auth"])
    assert org.json()["name"] == world.north["name"]
