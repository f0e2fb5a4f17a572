"""Mock tests and assignments in the export and the erasure (docs/PRIVACY.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from beanie import PydanticObjectId

from models import Assignment, MockTest
from models.common import utcnow
from tests.conftest import Api
from tests.practice.helpers import BASE, question_ids, save, set_role, start_test


async def _export(api: Api, who: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.get(f"{BASE}/users/me/export", headers=who["auth"])
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_tests_are_exported_without_a_running_tests_key_and_erased(api: Api) -> None:
    learner = await api.register()
    other = await api.register()
    running = await start_test(api, learner, questions=3)
    ended = await start_test(api, learner, questions=3)
    await save(api, learner, ended["id"], question_ids(ended)[0], 1)
    await api.client.post(f"{BASE}/tests/{ended['id']}/submit", headers=learner["auth"])
    theirs = await start_test(api, other, questions=2)
    doc = await _export(api, learner)
    tests = {t["id"]: t for t in doc["mock_tests"]}
    assert set(tests) == {running["id"], ended["id"]}
    assert all("answer" not in i and "explanation" not in i for i in tests[running["id"]]["items"])
    assert all("answer" in i and i["explanation"] for i in tests[ended["id"]]["items"])
    assert tests[ended["id"]]["result"]["questions"][0]["chosen"] == 1
    assert "user_id" not in tests[ended["id"]]
    erased = await api.client.delete(f"{BASE}/users/me", headers=learner["auth"])
    assert erased.status_code == 204
    user_id = PydanticObjectId(learner["user"]["id"])
    assert await MockTest.find({"user_id": user_id}).count() == 0
    assert await MockTest.get(PydanticObjectId(theirs["id"])) is not None


async def test_a_mentors_assignments_stay_with_the_group_unsigned(api: Api) -> None:
    mentor = await api.register()
    heir = await api.register()
    learner = await api.register()
    await set_role(mentor, "mentor")
    await set_role(heir, "mentor")
    group = (
        await api.client.post(f"{BASE}/groups", json={"name": "G"}, headers=mentor["auth"])
    ).json()
    for who in (heir, learner):
        await api.client.post(
            f"{BASE}/groups/join", json={"invite_code": group["invite_code"]}, headers=who["auth"]
        )
    due = (utcnow() + timedelta(days=1)).isoformat()
    created = await api.client.post(
        f"{BASE}/groups/{group['id']}/assignments",
        json={"title": "Week 1", "kind": "test", "due_at": due},
        headers=mentor["auth"],
    )
    assert created.status_code == 201
    doc = await _export(api, mentor)
    assert [a["title"] for a in doc["assignments"]] == ["Week 1"]
    assert (await _export(api, learner))["assignments"] == []
    assert (await api.client.delete(f"{BASE}/users/me", headers=mentor["auth"])).status_code == 204
    kept = await Assignment.get(PydanticObjectId(created.json()["id"]))
    assert kept is not None and kept.created_by is None
    mine = (await api.client.get(f"{BASE}/assignments", headers=learner["auth"])).json()
    assert [a["title"] for a in mine["items"]] == ["Week 1"]
