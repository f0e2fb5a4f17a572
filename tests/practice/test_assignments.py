"""Assignments: a group's mentor sets them, members see theirs with their completion, the
mentor sees who has done what and who is late; nobody else sees anything."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from beanie import PydanticObjectId

from models import Assignment, Question
from models.common import utcnow
from tests.conftest import Api
from tests.practice.helpers import BASE, answer_key, save, set_role, start_test


async def _group(api: Api, mentor: dict[str, Any], *members: dict[str, Any]) -> dict[str, Any]:
    group = (
        await api.client.post(f"{BASE}/groups", json={"name": "Batch"}, headers=mentor["auth"])
    ).json()
    for member in members:
        joined = await api.client.post(
            f"{BASE}/groups/join",
            json={"invite_code": group["invite_code"]},
            headers=member["auth"],
        )
        assert joined.status_code == 200
    return dict(group)


async def _assign(api: Api, mentor: dict[str, Any], group_id: str, **body: Any) -> Any:
    body.setdefault("due_at", (utcnow() + timedelta(days=3)).isoformat())
    return await api.client.post(
        f"{BASE}/groups/{group_id}/assignments", json=body, headers=mentor["auth"]
    )


async def _mine(api: Api, who: dict[str, Any]) -> dict[str, dict[str, Any]]:
    page = (await api.client.get(f"{BASE}/assignments", headers=who["auth"])).json()
    return {a["id"]: a for a in page["items"]}


async def _report(api: Api, mentor: dict[str, Any], group_id: str, assignment_id: str) -> Any:
    return await api.client.get(
        f"{BASE}/groups/{group_id}/assignments/{assignment_id}", headers=mentor["auth"]
    )


async def _make_due(assignment_id: str) -> None:
    """The due date passes now (tests cannot wait days)."""
    await asyncio.sleep(0.01)
    await Assignment.get_pymongo_collection().update_one(
        {"_id": PydanticObjectId(assignment_id)}, {"$set": {"due_at": utcnow()}}
    )
    await asyncio.sleep(0.01)


async def test_a_test_assignment_is_done_by_a_submitted_test_and_late_is_seen(api: Api) -> None:
    mentor = await api.register()
    ravi = await api.register()
    meera = await api.register()
    idle = await api.register()
    await set_role(mentor, "mentor")
    group = await _group(api, mentor, ravi, meera, idle)
    created = await _assign(
        api, mentor, group["id"], title="Mock 1", kind="test", exam="JEE", questions=6
    )
    assert created.status_code == 201, created.text
    assignment = created.json()
    assert assignment["kind"] == "test" and assignment["questions"] == 6
    mine = await _mine(api, ravi)
    assert mine[assignment["id"]]["completion"]["status"] == "pending"
    # Ravi does it on time.
    test = await start_test(api, ravi, exam="NEET", assignment_id=assignment["id"])
    assert test["exam"] == "JEE" and sum(len(s["questions"]) for s in test["sections"]) == 6
    assert test["assignment_id"] == assignment["id"]
    pending = await _mine(api, ravi)
    assert pending[assignment["id"]]["completion"]["status"] == "pending"  # started, not done
    submitted = await api.client.post(f"{BASE}/tests/{test['id']}/submit", headers=ravi["auth"])
    assert submitted.status_code == 200
    done = (await _mine(api, ravi))[assignment["id"]]["completion"]
    assert done["status"] == "completed" and done["test_id"] == test["id"] and done["done"] == 1
    # The due date passes; Meera does it late, the idle member not at all.
    await _make_due(assignment["id"])
    late_test = await start_test(api, meera, assignment_id=assignment["id"])
    await api.client.post(f"{BASE}/tests/{late_test['id']}/submit", headers=meera["auth"])
    report = await _report(api, mentor, group["id"], assignment["id"])
    assert report.status_code == 200, report.text
    rows = {r["user_id"]: r["completion"]["status"] for r in report.json()["members"]}
    assert rows == {
        ravi["user"]["id"]: "completed",
        meera["user"]["id"]: "late",
        idle["user"]["id"]: "missed",
    }
    assert sorted(report.json()["late"]) == sorted([meera["user"]["id"], idle["user"]["id"]])
    assert mentor["user"]["id"] not in rows


async def test_a_topic_assignment_counts_quiz_answers_since_it_was_set(api: Api) -> None:
    mentor = await api.register()
    learner = await api.register()
    await set_role(mentor, "mentor")
    group = await _group(api, mentor, learner)
    topic = "physics.kinematics"
    created = await _assign(
        api, mentor, group["id"], title="Kinematics", kind="topic", topic_ids=[topic], questions=3
    )
    assert created.status_code == 201, created.text
    assignment_id = created.json()["id"]
    questions = await Question.find({"topic_id": topic, "active": True}).limit(3).to_list()
    for i, question in enumerate(questions):
        state = (await _mine(api, learner))[assignment_id]["completion"]
        assert state["status"] == "pending" and state["done"] == i and state["needed"] == 3
        answered = await api.client.post(
            f"{BASE}/quiz/attempts",
            json={"question_id": str(question.id), "option": 0},
            headers=learner["auth"],
        )
        assert answered.status_code == 201, answered.text
    state = (await _mine(api, learner))[assignment_id]["completion"]
    assert state["status"] == "completed" and state["done"] == 3 and state["completed_at"]
    # A topic assignment is practice, not a test.
    refused = await api.client.post(
        f"{BASE}/tests",
        json={"exam": "JEE", "assignment_id": assignment_id},
        headers=learner["auth"],
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "assignment_not_a_test"


async def test_only_the_groups_mentors_assign_and_see_completion(api: Api) -> None:
    mentor = await api.register()
    learner = await api.register()
    stranger = await api.register()
    await set_role(mentor, "mentor")
    await set_role(stranger, "mentor")
    group = await _group(api, mentor, learner)
    by_member = await _assign(api, learner, group["id"], title="x", kind="test")
    assert by_member.status_code == 403
    by_stranger = await _assign(api, stranger, group["id"], title="x", kind="test")
    assert by_stranger.status_code == 404
    assert by_stranger.json()["error"]["code"] == "group_not_found"
    assignment = (await _assign(api, mentor, group["id"], title="Mock", kind="test")).json()
    assert (await _report(api, learner, group["id"], assignment["id"])).status_code == 403
    assert (await _report(api, stranger, group["id"], assignment["id"])).status_code == 404
    assert await _mine(api, stranger) == {}
    foreign = await api.client.post(
        f"{BASE}/tests",
        json={"exam": "JEE", "assignment_id": assignment["id"]},
        headers=stranger["auth"],
    )
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "assignment_not_found"
    for body, code in (
        ({"title": "t", "kind": "topic"}, "topic_ids_required"),
        ({"title": "t", "kind": "topic", "topic_ids": ["physics.nope"]}, "unknown_topic"),
        ({"title": "t", "kind": "test", "due_at": "2020-01-01T00:00:00Z"}, "due_in_past"),
        ({"title": "t", "kind": "test", "exam": "GRE"}, "unknown_exam"),
        ({"title": "t", "kind": "quiz"}, "validation_error"),
    ):
        bad = await _assign(api, mentor, group["id"], **body)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == code, bad.text


async def test_a_submitted_assignment_test_is_scored_like_any_other(api: Api) -> None:
    mentor = await api.register()
    learner = await api.register()
    await set_role(mentor, "mentor")
    group = await _group(api, mentor, learner)
    assignment = (
        await _assign(
            api,
            mentor,
            group["id"],
            title="Optics",
            kind="test",
            exam="JEE",
            topic_ids=["physics.ray_optics"],
            questions=4,
        )
    ).json()
    test = await start_test(api, learner, assignment_id=assignment["id"])
    assert test["pattern"] == "custom"
    key = await answer_key(test["id"])
    for qid, answer in key.items():
        assert (await save(api, learner, test["id"], qid, answer)).status_code == 200
    result = (
        await api.client.post(f"{BASE}/tests/{test['id']}/submit", headers=learner["auth"])
    ).json()
    assert result["correct"] == len(key) and result["percentile"] is None
