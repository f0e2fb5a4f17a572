"""The permission matrix: every admin and privacy route against every role.

Anonymous callers get 401, learners 403 on the admin API, mentors read their own
organization's learners only, an organization's admin manages that organization only (another
organization's objects are 404), and the deployment's admin manages everything.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.admin.helpers import BASE, World, build_world
from tests.conftest import Api

ROLES = ("anon", "learner", "mentor", "north_admin", "root")


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await build_world(api, "north-perm")


def _matrix(w: World) -> list[tuple[str, str, dict[str, Any] | None, tuple[int | None, ...]]]:
    learner, north_learner = w.id("learner"), w.id("north_learner")
    default_org, north = w.root["user"]["org_id"], w.north["id"]
    # (method, path, body, expected status for anon, learner, mentor, north_admin, root);
    # None: not tried (a destructive success is covered by its own test).
    return [
        ("GET", "/admin/users", None, (401, 403, 403, 200, 200)),
        ("GET", "/admin/learners", None, (401, 403, 200, 200, 200)),
        ("GET", f"/admin/users/{learner}", None, (401, 403, 200, 404, 200)),
        ("GET", f"/admin/users/{north_learner}", None, (401, 403, 404, 200, 200)),
        ("GET", f"/admin/users/{w.id('root')}", None, (401, 403, 404, 404, 200)),
        ("PATCH", f"/admin/users/{learner}", {"disabled": False}, (401, 403, 403, 404, 200)),
        ("PATCH", f"/admin/users/{north_learner}", {"disabled": False}, (401, 403, 403, 200, 200)),
        ("GET", f"/admin/users/{learner}/export", None, (401, 403, 403, 404, 200)),
        ("GET", f"/admin/users/{north_learner}/export", None, (401, 403, 403, 200, 200)),
        ("DELETE", f"/admin/users/{learner}", None, (401, 403, 403, 404, None)),
        ("DELETE", f"/admin/users/{north_learner}", None, (401, 403, 403, None, None)),
        ("GET", "/admin/orgs", None, (401, 403, 403, 200, 200)),
        ("POST", "/admin/orgs", {"name": "X", "slug": "x-perm"}, (401, 403, 403, 403, None)),
        ("GET", f"/admin/orgs/{north}", None, (401, 403, 403, 200, 200)),
        ("GET", f"/admin/orgs/{default_org}", None, (401, 403, 403, 404, 200)),
        ("PATCH", f"/admin/orgs/{north}", {"signup_open": True}, (401, 403, 403, 200, 200)),
        ("PATCH", f"/admin/orgs/{default_org}", {"signup_open": True}, (401, 403, 403, 404, 200)),
        ("GET", "/admin/usage", None, (401, 403, 403, 200, 200)),
        ("GET", "/admin/audit", None, (401, 403, 403, 200, 200)),
        ("GET", "/users/me/export", None, (401, 200, 200, 200, 200)),
        ("DELETE", "/users/me", None, (401, None, None, None, None)),
    ]


async def test_every_admin_and_privacy_route_against_every_role(api: Api, world: World) -> None:
    wrong = []
    for method, path, body, expected in _matrix(world):
        for role, status in zip(ROLES, expected, strict=True):
            if status is None:
                continue
            headers = {} if role == "anon" else getattr(world, role)["auth"]
            response = await api.client.request(method, BASE + path, json=body, headers=headers)
            if response.status_code != status:
                wrong.append(f"{role} {method} {path}: {response.status_code}, expected {status}")
            elif status >= 400:
                error = response.json()["error"]
                assert error["code"] and error["message"], response.text
    assert not wrong, "\n".join(wrong)


async def test_a_mentor_sees_only_learners_of_their_organization(api: Api, world: World) -> None:
    page = await api.client.get(f"{BASE}/admin/learners?limit=100", headers=world.mentor["auth"])
    ids = {item["id"] for item in page.json()["items"]}
    assert world.id("learner") in ids
    assert world.id("north_learner") not in ids
    assert not ids & {world.id("mentor"), world.id("root")}, "staff are not listed as learners"
    assert {item["role"] for item in page.json()["items"]} == {"learner"}
    north = await api.client.get(
        f"{BASE}/admin/learners?limit=100", headers=world.north_mentor["auth"]
    )
    assert {item["id"] for item in north.json()["items"]} == {world.id("north_learner")}


async def test_an_organization_admin_lists_only_their_organization(api: Api, world: World) -> None:
    page = await api.client.get(f"{BASE}/admin/users?limit=100", headers=world.north_admin["auth"])
    assert {item["org_id"] for item in page.json()["items"]} == {world.north["id"]}
    other = await api.client.get(
        f"{BASE}/admin/users?org_id={world.root['user']['org_id']}",
        headers=world.north_admin["auth"],
    )
    assert other.status_code == 200 and other.json()["items"] == []
    orgs = await api.client.get(f"{BASE}/admin/orgs", headers=world.north_admin["auth"])
    assert [o["id"] for o in orgs.json()["items"]] == [world.north["id"]]
    everyone = await api.client.get(f"{BASE}/admin/users?limit=100", headers=world.root["auth"])
    assert {item["org_id"] for item in everyone.json()["items"]} == {
        world.north["id"],
        world.root["user"]["org_id"],
    }
