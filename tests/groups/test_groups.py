"""Study groups: who may create, join, read and chat; everyone else gets 404."""

from __future__ import annotations

import asyncio
from typing import Any

from beanie import PydanticObjectId

from models import AuditLog, StudyGroup, User
from tests.conftest import Api

BASE = "/api/v1"


async def _mentor(api: Api, **extra: Any) -> dict[str, Any]:
    me = await api.register(**extra)
    await User.find_one(User.id == PydanticObjectId(me["user"]["id"])).update(
        {"$set": {"role": "mentor"}}
    )
    return me


async def _group(
    api: Api, mentor: dict[str, Any], name: str = "JEE 2027 batch A"
) -> dict[str, Any]:
    response = await api.client.post(f"{BASE}/groups", json={"name": name}, headers=mentor["auth"])
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_only_mentors_and_admins_create_groups(api: Api) -> None:
    learner = await api.register()
    refused = await api.client.post(f"{BASE}/groups", json={"name": "x"}, headers=learner["auth"])
    assert refused.status_code == 403
    mentor = await _mentor(api)
    group = await _group(api, mentor)
    assert group["invite_code"] and len(group["invite_code"]) >= 8
    assert group["members"][0]["user_id"] == mentor["user"]["id"]
    assert group["members"][0]["role"] == "mentor"
    conversation = await api.client.get(
        f"{BASE}/conversations/{group['conversation_id']}", headers=mentor["auth"]
    )
    assert conversation.status_code == 200
    assert conversation.json()["title"] == "JEE 2027 batch A"
    for body in ({}, {"name": ""}, {"name": "x", "org_id": "y"}):
        bad = await api.client.post(f"{BASE}/groups", json=body, headers=mentor["auth"])
        assert bad.status_code == 422


async def test_joining_is_idempotent_and_race_free(api: Api) -> None:
    mentor = await _mentor(api)
    group = await _group(api, mentor)
    learner = await api.register()
    body = {"invite_code": group["invite_code"]}
    answers = await asyncio.gather(
        *(
            api.client.post(f"{BASE}/groups/join", json=body, headers=learner["auth"])
            for _ in range(10)
        )
    )
    assert {a.status_code for a in answers} == {200}
    stored = await StudyGroup.get(PydanticObjectId(group["id"]))
    assert stored is not None
    members = [str(m.user_id) for m in stored.members]
    assert members.count(learner["user"]["id"]) == 1 and len(members) == 2
    assert answers[0].json()["invite_code"] is None  # learners do not see the code
    for injected in ({"$ne": ""}, ["x"], 5, "x" * 65):
        bad = await api.client.post(
            f"{BASE}/groups/join", json={"invite_code": injected}, headers=learner["auth"]
        )
        assert bad.status_code == 422, injected
    unknown = await api.client.post(
        f"{BASE}/groups/join", json={"invite_code": "nope-nope"}, headers=learner["auth"]
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "group_not_found"


async def test_members_chat_in_the_group_conversation_and_others_get_404(api: Api) -> None:
    mentor = await _mentor(api)
    group = await _group(api, mentor)
    member, outsider = await api.register(), await api.register()
    joined = await api.client.post(
        f"{BASE}/groups/join", json={"invite_code": group["invite_code"]}, headers=member["auth"]
    )
    assert joined.status_code == 200
    conv = group["conversation_id"]
    sent = await api.client.post(
        f"{BASE}/conversations/{conv}/messages",
        json={"content": "Can someone explain Le Chatelier's principle?"},
        headers=member["auth"],
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["assistant_message"]["status"] == "complete"
    assert sent.json()["user_message"]["author_id"] == member["user"]["id"]
    history = await api.client.get(f"{BASE}/conversations/{conv}/messages", headers=mentor["auth"])
    assert [m["role"] for m in history.json()["items"]] == ["user", "assistant"]

    for path in (
        f"/groups/{group['id']}",
        f"/conversations/{conv}",
        f"/conversations/{conv}/messages",
    ):
        response = await api.client.get(f"{BASE}{path}", headers=outsider["auth"])
        assert response.status_code == 404, path
    post = await api.client.post(
        f"{BASE}/conversations/{conv}/messages", json={"content": "hi"}, headers=outsider["auth"]
    )
    assert post.status_code == 404
    # A member may chat but not rename or delete the shared conversation.
    rename = await api.client.patch(
        f"{BASE}/conversations/{conv}", json={"title": "mine"}, headers=member["auth"]
    )
    delete = await api.client.delete(f"{BASE}/conversations/{conv}", headers=member["auth"])
    assert (rename.status_code, delete.status_code) == (404, 404)
    seen_by_member = await api.client.get(f"{BASE}/groups/{group['id']}", headers=member["auth"])
    assert seen_by_member.status_code == 200 and seen_by_member.json()["invite_code"] is None
    seen_by_mentor = await api.client.get(f"{BASE}/groups/{group['id']}", headers=mentor["auth"])
    assert seen_by_mentor.json()["invite_code"] == group["invite_code"]


async def test_leaving_ends_access_and_the_creator_cannot_leave(api: Api) -> None:
    mentor = await _mentor(api)
    group = await _group(api, mentor)
    member = await api.register()
    await api.client.post(
        f"{BASE}/groups/join", json={"invite_code": group["invite_code"]}, headers=member["auth"]
    )
    left = await api.client.delete(
        f"{BASE}/groups/{group['id']}/members/me", headers=member["auth"]
    )
    assert left.status_code == 204
    gone = await api.client.get(
        f"{BASE}/conversations/{group['conversation_id']}/messages", headers=member["auth"]
    )
    assert gone.status_code == 404
    stays = await api.client.delete(
        f"{BASE}/groups/{group['id']}/members/me", headers=mentor["auth"]
    )
    assert stays.status_code == 409
    assert stays.json()["error"]["code"] == "owner_cannot_leave"


async def test_my_groups_are_paged_with_a_cursor(api: Api) -> None:
    mentor = await _mentor(api)
    ids = [(await _group(api, mentor, f"group {i}"))["id"] for i in range(3)]
    first = await api.client.get(f"{BASE}/groups?limit=2", headers=mentor["auth"])
    page = first.json()
    assert [g["id"] for g in page["items"]] == ids[::-1][:2]
    second = await api.client.get(
        f"{BASE}/groups?limit=2&cursor={page['next_cursor']}", headers=mentor["auth"]
    )
    assert [g["id"] for g in second.json()["items"]] == ids[::-1][2:]
    assert second.json()["next_cursor"] is None
    other = await api.register()
    assert (await api.client.get(f"{BASE}/groups", headers=other["auth"])).json()["items"] == []


async def test_mentors_and_admins_see_members_progress_and_nobody_else(api: Api, app: Any) -> None:
    mentor = await _mentor(api)
    group = await _group(api, mentor)
    learner = await api.register(display_name="Kabir")
    await api.client.post(
        f"{BASE}/groups/join", json={"invite_code": group["invite_code"]}, headers=learner["auth"]
    )
    user = await User.get(PydanticObjectId(learner["user"]["id"]))
    assert user is not None
    await app.state.ctx.progress.award(user=user, amount=40, source="test", source_id="g")
    url = f"{BASE}/groups/{group['id']}/progress"

    seen = await api.client.get(url, headers=mentor["auth"])
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["group_id"] == group["id"]
    rows = {m["user_id"]: m for m in body["items"]}
    assert list(rows) == [mentor["user"]["id"], learner["user"]["id"]]
    kabir = rows[learner["user"]["id"]]
    assert (kabir["display_name"], kabir["role"]) == ("Kabir", "member")
    assert kabir["progress"]["xp"] == 40 and kabir["progress"]["xp_this_week"] == 40
    assert rows[mentor["user"]["id"]]["progress"]["xp"] == 0
    read = await AuditLog.find_one(
        {"action": "admin.read_group_progress", "actor_id": PydanticObjectId(mentor["user"]["id"])}
    )
    assert read is not None and read.target_id == group["id"]

    admin = await api.register()
    await User.find_one(User.id == PydanticObjectId(admin["user"]["id"])).update(
        {"$set": {"role": "admin"}}
    )
    assert (await api.client.get(url, headers=admin["auth"])).status_code == 200

    member_view = await api.client.get(url, headers=learner["auth"])
    assert member_view.status_code == 403  # the group is theirs; the others' progress is not
    outsider = await api.register()
    foreign_admin = await api.register()
    await User.find_one(User.id == PydanticObjectId(foreign_admin["user"]["id"])).update(
        {"$set": {"role": "admin", "org_id": PydanticObjectId()}}
    )
    for who in (outsider, foreign_admin):
        hidden = await api.client.get(url, headers=who["auth"])
        assert hidden.status_code == 404
        assert hidden.json()["error"]["code"] == "group_not_found"
