"""GDPR export and erasure through the API, with Redis as in production: the export holds all
of a learner's data and nobody else's; after erasure nothing of theirs is left anywhere but
an audit entry without content."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from beanie import PydanticObjectId
from bson import ObjectId

from models import AuditLog, Conversation, Message, Progress, StudyGroup, User
from models.common import utcnow
from realtime.limits import RedisSlots
from realtime.presence import RedisPresence
from realtime.replay import RedisReplay
from server.auth.tokens import hash_token
from server.chat.limits import local_day
from server.config import Settings
from server.leaderboard.service import board_key
from server.privacy import service as privacy
from server.progress.weeks import iso_week
from tests.conftest import TEST_JWT_SECRET, Api, make_settings
from tests.privacy.helpers import (
    BASE,
    eventually,
    join,
    make_group,
    messages_of,
    new_learner,
    scene,
    send,
    set_role,
    traces_in_mongo,
    traces_in_redis,
)


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return make_settings(mongo_url, tmp_path_factory.mktemp("data"), redis_url=redis_url)


async def _export(api: Api, auth: dict[str, str]) -> tuple[dict[str, Any], str]:
    response = await api.client.get(f"{BASE}/users/me/export", headers=auth)
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    return response.json(), response.text


async def test_the_export_holds_all_of_the_learners_data_and_nobody_elses(
    api: Api, app: Any
) -> None:
    s = await scene(api, app)
    me = s.learner
    login = await api.client.post(
        f"{BASE}/auth/login", json={"email": me.email, "password": me.me["password"]}
    )
    assert login.status_code == 200

    doc, raw = await _export(api, me.auth)

    assert (doc["format"], doc["version"]) == ("starguide.export", 1)
    assert doc["exported_at"].startswith("20")
    assert doc["user"]["id"] == me.id and doc["user"]["email"] == me.email
    assert doc["user"]["profile"]["display_name"] == "Asha"
    # Every message the learner sent, and every reply to them, with their content.
    conversations = {c["id"]: c for c in doc["conversations"]}
    assert set(conversations) == {*me.private_conversations, s.group["conversation_id"]}
    exported = {m["id"]: m for c in doc["conversations"] for m in c["messages"]}
    assert set(exported) == set(me.message_ids)
    sent = [m for m in exported.values() if m["role"] == "user"]
    assert len(sent) == 3 and all(me.marker in m["content"] for m in sent)
    assert all(m["content"] for m in exported.values() if m["role"] == "assistant")
    group_conversation = conversations[s.group["conversation_id"]]
    assert (group_conversation["role"], group_conversation["shared"]) == ("member", True)
    assert {conversations[c]["role"] for c in me.private_conversations} == {"owner"}
    # Nothing of the other learner, although they wrote in the same group conversation.
    assert s.other.marker not in raw and s.other.id not in raw and s.other.email not in raw
    assert s.mentor["user"]["id"] not in raw
    # Memory, progress, badges, quizzes, ledger, AI usage, groups, sessions, audit.
    assert any(t["topic_id"] == "physics.vectors" for t in doc["memory"]["topics"])
    assert doc["progress"]["xp_total"] > 0 and doc["progress"]["chat_messages"] == 3
    assert "first_question" in {a["code"] for a in doc["achievements"]}
    assert all(a["name"] for a in doc["achievements"])
    attempts = doc["quiz"]["attempts"]
    assert len(attempts) == 2 and {a["correct"] for a in attempts} == {True, False}
    assert all(a["question"]["stem"] for a in attempts)
    assert doc["quiz"]["mastery"]
    assert sum(e["amount"] for e in doc["xp_events"]) == doc["progress"]["xp_total"]
    assert doc["ai_usage"] and doc["ai_usage"][0]["requests"] >= 3
    assert [(g["id"], g["role"]) for g in doc["study_groups"]] == [(s.group["id"], "member")]
    assert len(doc["sessions"]) == 2
    assert all(
        set(t) == {"created_at", "expires_at", "used_at", "revoked_at"} for t in doc["sessions"]
    )
    assert {"user.register", "auth.login"} <= {a["action"] for a in doc["audit"]}
    # No secret of any kind, anywhere in the document.
    stored = await User.get(PydanticObjectId(me.id))
    assert stored is not None and stored.password_hash
    for secret in (
        stored.password_hash,
        me.me["refresh_token"],
        hash_token(me.me["refresh_token"]),
        hash_token(login.json()["refresh_token"]),
        me.me["access_token"],
        TEST_JWT_SECRET,
        s.group["invite_code"],
    ):
        assert secret not in raw
    assert "password" not in raw and "token_hash" not in raw and "family_id" not in raw
    json.loads(raw)  # one JSON document
    # Audited, without content.
    entry = await AuditLog.find_one({"action": "privacy.export", "target_id": me.id})
    assert entry is not None and entry.actor_id == PydanticObjectId(me.id)
    assert me.marker not in json.dumps(entry.details)


async def test_erasure_leaves_nothing_of_the_learner_but_a_content_free_audit_entry(
    api: Api, app: Any
) -> None:
    state = app.state.ctx
    s = await scene(api, app)
    me, other = s.learner, s.other
    user = await User.get(PydanticObjectId(me.id))
    assert user is not None
    mine = [PydanticObjectId(m) for m in me.message_ids]
    stored = await Message.find({"_id": {"$in": mine}}).to_list()
    replies = [str(m.id) for m in stored if m.role == "assistant"]
    board = board_key(user.org_id, iso_week(local_day(user, utcnow())))
    # What erasure has to clean is really there first (else the test proves nothing).
    assert await state.redis.zscore(board, me.id) is not None
    assert await eventually(lambda: _exists(state, RedisReplay.key(replies[-1])))
    presence = RedisPresence(state.redis, ttl_s=60)
    await presence.add(s.group["conversation_id"], me.id, "sid-1")
    await presence.add(s.group["conversation_id"], other.id, "sid-2")
    assert await traces_in_redis(state.redis, me.id, me.message_ids)
    failed = await api.client.post(
        f"{BASE}/auth/login", json={"email": me.email, "password": "not the password"}
    )
    assert failed.status_code == 401
    throttle = hashlib.sha256(me.email.encode()).hexdigest()[:32]
    assert [k async for k in state.redis.scan_iter(match=f"*{throttle}*")]
    other_messages = await messages_of(other.id)
    other_progress = await Progress.find_one({"user_id": PydanticObjectId(other.id)})

    response = await api.client.delete(f"{BASE}/users/me", headers=me.auth)
    assert response.status_code == 204, response.text
    assert response.content == b""

    ids = {ObjectId(me.id), *(ObjectId(m) for m in me.message_ids)}
    ids |= {ObjectId(c) for c in me.private_conversations}
    assert await traces_in_mongo(ids, {me.marker, me.email, me.id}) == {}
    assert await traces_in_redis(state.redis, me.id, me.message_ids) == []
    assert [k async for k in state.redis.scan_iter(match=f"*{throttle}*")] == []
    assert await state.redis.zscore(board, other.id) is not None  # others stay on the board
    assert await presence.online(s.group["conversation_id"]) == [other.id]
    # The audit log keeps its entries, none with content, and one saying what was erased.
    entries = await AuditLog.find({"$or": [{"actor_id": user.id}, {"target_id": me.id}]}).to_list()
    assert all(me.marker not in json.dumps(e.model_dump(mode="json")) for e in entries)
    assert all(me.email not in json.dumps(e.model_dump(mode="json")) for e in entries)
    erased = [e for e in entries if e.action == "privacy.erase"]
    assert len(erased) == 1 and erased[0].target_id == me.id
    counts = erased[0].details
    assert counts["deleted"]["messages"] == len(me.message_ids)
    assert counts["deleted"]["users"] == 1 and counts["deleted"]["conversations"] == 2
    assert counts["redis"]["leaderboard_entries"] >= 1 and counts["redis"]["replay_streams"] >= 1
    # The account is gone: old tokens, login, refresh; the email is free again.
    assert (await api.client.get(f"{BASE}/users/me", headers=me.auth)).status_code == 401
    login = await api.client.post(
        f"{BASE}/auth/login", json={"email": me.email, "password": me.me["password"]}
    )
    assert login.status_code == 401 and login.json()["error"]["code"] == "invalid_credentials"
    refresh = await api.client.post(
        f"{BASE}/auth/refresh", json={"refresh_token": me.me["refresh_token"]}
    )
    assert refresh.status_code == 401
    again = await api.register(email=me.email)
    assert again["user"]["id"] != me.id
    # The other learner's data in the shared group is intact; the group forgot the learner.
    assert [m.id for m in await messages_of(other.id)] == [m.id for m in other_messages]
    their_replies = Message.find({"parent_id": {"$in": [m.id for m in other_messages]}})
    assert len(await their_replies.to_list()) == 1
    assert await Progress.find_one({"user_id": PydanticObjectId(other.id)}) == other_progress
    group = await StudyGroup.get(PydanticObjectId(s.group["id"]))
    assert group is not None
    assert {str(m.user_id) for m in group.members} == {s.mentor["user"]["id"], other.id}
    conversation = await Conversation.get(PydanticObjectId(s.group["conversation_id"]))
    assert conversation is not None and [str(m) for m in conversation.member_ids] == [other.id]
    assert conversation.message_count == 2
    listed = await api.client.get(
        f"{BASE}/conversations/{s.group['conversation_id']}/messages", headers=other.auth
    )
    items = listed.json()["items"]
    assert [m["id"] for m in items[:1]] == [str(other_messages[0].id)] and len(items) == 2


async def _exists(state: Any, key: str) -> bool:
    return bool(await state.redis.exists(key))


async def test_a_group_creators_erasure_hands_the_group_on_and_can_be_rerun(
    api: Api, app: Any
) -> None:
    state = app.state.ctx
    mentor = await new_learner(api, "Mentor")
    await set_role(mentor.me, "mentor")
    group = await make_group(api, mentor.me)
    learner = await new_learner(api, "Asha")
    await join(api, learner.auth, group)
    await send(api, mentor, group["conversation_id"], "Welcome, ask anything")
    await send(api, learner, group["conversation_id"], "What is a vector?")
    admin = await new_learner(api, "Admin")
    await set_role(admin.me, "admin")
    target = await User.get(PydanticObjectId(mentor.id))
    actor = await User.get(PydanticObjectId(admin.id))
    assert target is not None and actor is not None

    # A progress update still on its way when the erasure starts must not outlive it.
    sent = await Message.get(PydanticObjectId(mentor.message_ids[0]))
    assert sent is not None
    state.progress.schedule_learner_message(sent, target)

    report = await privacy.erase_user(state, user=target, actor=actor)

    assert report.deleted["messages"] == 2 and report.deleted["users"] == 1
    assert report.updated["study_groups_handed_over"] == 1
    stored = await StudyGroup.get(PydanticObjectId(group["id"]))
    assert stored is not None and stored.created_by == PydanticObjectId(learner.id)
    assert [str(m.user_id) for m in stored.members] == [learner.id]
    conversation = await Conversation.get(PydanticObjectId(group["conversation_id"]))
    assert conversation is not None and str(conversation.user_id) == learner.id
    assert len(await messages_of(learner.id)) == 1 and await messages_of(mentor.id) == []
    ids = {ObjectId(mentor.id), *(ObjectId(m) for m in mentor.message_ids)}
    assert await traces_in_mongo(ids, {mentor.marker, mentor.email}) == {}
    entry = await AuditLog.find_one({"action": "privacy.erase", "target_id": mentor.id})
    assert entry is not None and entry.actor_id == actor.id
    # A second run (an admin retrying after a crash) finds nothing left and still succeeds.
    rerun = await privacy.erase_user(state, user=target, actor=actor)
    assert rerun.deleted == {} and rerun.redis == {}
    listed = await api.client.get(
        f"{BASE}/conversations/{group['conversation_id']}/messages", headers=learner.auth
    )
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
)
async def test_without_a_valid_token_it_is_401(
    api: Api, method: str, headers: dict[str, str]
) -> None:
    path = f"{BASE}/users/me/export" if method == "GET" else f"{BASE}/users/me"
    response = await api.client.request(method, path, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] in ("missing_token", "invalid_token")


async def test_erasing_twice_is_401_the_second_time(api: Api) -> None:
    me = await api.register()
    first = await api.client.delete(f"{BASE}/users/me", headers=me["auth"])
    assert first.status_code == 204
    second = await api.client.delete(f"{BASE}/users/me", headers=me["auth"])
    assert second.status_code == 401
    assert second.json()["error"]["code"] == "session_revoked"  # erasure ended the session
    export = await api.client.get(f"{BASE}/users/me/export", headers=me["auth"])
    assert export.status_code == 401


async def test_erasure_frees_socket_slots_a_crashed_instance_left(api: Api, app: Any) -> None:
    """The gateway registers its own cleanup (realtime/privacy.py): a slot no socket will
    ever release (its instance died) goes with the account."""
    state = app.state.ctx
    me = await api.register()
    slots = RedisSlots(state.redis, cap=5, ttl_s=60)
    assert await slots.acquire(me["user"]["id"], "sid-on-a-dead-instance")
    assert await state.redis.exists(RedisSlots.key(me["user"]["id"]))

    response = await api.client.delete(f"{BASE}/users/me", headers=me["auth"])
    assert response.status_code == 204

    assert not await state.redis.exists(RedisSlots.key(me["user"]["id"]))
    assert await traces_in_redis(state.redis, me["user"]["id"], []) == []
    entry = await AuditLog.find_one({"action": "privacy.erase", "target_id": me["user"]["id"]})
    assert entry is not None and entry.details["redis"]["socket_slots"] == 1
