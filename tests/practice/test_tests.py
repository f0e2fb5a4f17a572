"""Mock tests through the API against the real database: patterns, hidden answers, autosave
races, ending at time, submit twice, other learners, and the effects exactly once."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from beanie import PydanticObjectId

from models import LearnerTopic, MockTest, Question, TopicMastery, XpEvent
from models.common import utcnow
from server.config import Settings
from tests.conftest import Api, make_settings
from tests.practice.helpers import (
    BASE,
    answer_key,
    expire,
    move_end,
    question_ids,
    save,
    start_test,
    stored,
)


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # A short grace keeps the ending tests quick; the sweep is left to its own test module.
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("data"),
        practice_grace_seconds=0.5,
        practice_sweep_seconds=3600,
    )


@pytest.mark.parametrize(
    ("exam", "sections", "minutes", "marks"),
    [
        ("JEE Main", {"Physics": 25, "Chemistry": 25, "Mathematics": 25}, 180, (4, -1, 0)),
        ("NEET", {"Physics": 45, "Chemistry": 45, "Biology": 90}, 180, (4, -1, 0)),
        ("UPSC", {"General Studies": 100}, 120, (2, -0.66, 0)),
    ],
)
async def test_the_default_pattern_is_the_real_exams(
    api: Api, exam: str, sections: dict[str, int], minutes: int, marks: Sequence[float]
) -> None:
    learner = await api.register()
    test = await start_test(api, learner, exam=exam)
    assert {s["name"]: len(s["questions"]) for s in test["sections"]} == sections
    assert test["duration_minutes"] == minutes
    assert (test["marking"]["correct"], test["marking"]["wrong"]) == (marks[0], marks[1])
    assert test["marking"]["unanswered"] == marks[2]
    assert test["status"] == "in_progress" and test["result"] is None
    ids = question_ids(test)
    assert len(ids) == len(set(ids)), "a question repeated within a test"
    raw = json.dumps(test)
    assert '"answer"' not in raw and "explanation" not in raw and "correct_option" not in raw
    again = await api.client.get(f"{BASE}/tests/{test['id']}", headers=learner["auth"])
    assert "explanation" not in again.text and '"answer"' not in again.text


async def test_a_custom_test_stays_on_its_topics_and_is_capped_by_the_bank(api: Api) -> None:
    learner = await api.register()
    topics = ["physics.kinematics", "chemistry.mole_concept"]
    test = await start_test(api, learner, topics=topics, questions=200)
    asked = (await stored(test["id"])).items
    assert {i.topic_id for i in asked} <= set(topics)
    available = (
        await MockTest.get_pymongo_collection()
        .database["questions"]
        .count_documents({"topic_id": {"$in": topics}, "active": True, "exams": "JEE"})
    )
    assert len(asked) == available < 200
    assert test["pattern"] == "custom"
    bad = await api.client.post(
        f"{BASE}/tests",
        json={"exam": "JEE", "topics": ["biology.genetics"]},
        headers=learner["auth"],
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_topic"
    unknown = await api.client.post(f"{BASE}/tests", json={"exam": "GRE"}, headers=learner["auth"])
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_exam"


async def test_a_random_answer_sheet_is_marked_exactly(api: Api) -> None:
    learner = await api.register()
    test = await start_test(api, learner, exam="UPSC", questions=40)
    key = await answer_key(test["id"])
    rng = random.Random(1807)
    sheet: dict[str, int | None] = {}
    for qid in key:
        sheet[qid] = rng.choice([None, 0, 1, 2, 3])
        response = await save(api, learner, test["id"], qid, sheet[qid], ms=rng.randrange(1, 9000))
        assert response.status_code == 200, response.text
    result = (
        await api.client.post(f"{BASE}/tests/{test['id']}/submit", headers=learner["auth"])
    ).json()
    right = sum(1 for q, o in sheet.items() if o is not None and o == key[q])
    wrong = sum(1 for q, o in sheet.items() if o is not None and o != key[q])
    blank = sum(1 for o in sheet.values() if o is None)
    assert (result["correct"], result["wrong"], result["unanswered"]) == (right, wrong, blank)
    assert result["score"] == pytest.approx(2 * right - 0.66 * wrong, abs=0.005)
    assert result["max_score"] == 80
    assert result["accuracy"] == pytest.approx(right / (right + wrong), abs=1e-4)
    assert [q["id"] for q in result["questions"]] == question_ids(test)
    for q in result["questions"]:
        assert q["chosen"] == sheet[q["id"]] and q["correct_option"] == key[q["id"]]
        assert q["explanation"]
    by_topic: dict[str, list[int]] = {}
    for item in (await stored(test["id"])).items:
        counts = by_topic.setdefault(item.topic_id, [0, 0, 0])
        chosen = sheet[str(item.question_id)]
        counts[2 if chosen is None else 0 if chosen == item.answer else 1] += 1
    assert {
        t["topic_id"]: [t["correct"], t["wrong"], t["unanswered"]] for t in result["topics"]
    } == by_topic
    assert result["percentile"] == 100.0  # the only taker of this pattern so far


async def test_twenty_parallel_saves_of_one_answer_leave_one_whole(api: Api) -> None:
    learner = await api.register()
    test = await start_test(api, learner, questions=9)
    qid = question_ids(test)[0]
    sent = [(i % 4, 1000 + i) for i in range(20)]
    answers = await asyncio.gather(
        *(save(api, learner, test["id"], qid, option, ms) for option, ms in sent)
    )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    doc = await stored(test["id"])
    kept = doc.answers[qid]
    assert (kept.option, kept.time_spent_ms) in sent  # one request's answer, not a mix
    assert doc.answers_version == 20 and list(doc.answers) == [qid]


async def test_answers_arriving_while_the_test_ends(api: Api) -> None:
    """Saves race the end: everything answered 200 is in the result, nothing after it."""
    learner = await api.register()
    test = await start_test(api, learner, exam="NEET", questions=60)
    ids = question_ids(test)
    await move_end(test["id"], utcnow() + timedelta(seconds=0.3))
    accepted: list[str] = []
    refused: list[str] = []
    for qid in ids:
        response = await save(api, learner, test["id"], qid, 1)
        if response.status_code == 200:
            assert not refused, "an answer was taken after one was refused"
            accepted.append(qid)
        else:
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "test_ended"
            refused.append(qid)
        await asyncio.sleep(0.02)
    assert accepted and refused
    view = (await api.client.get(f"{BASE}/tests/{test['id']}", headers=learner["auth"])).json()
    assert view["status"] == "submitted" and view["end_reason"] == "time_up"
    chosen = {q["id"]: q["chosen"] for q in view["result"]["questions"]}
    assert {q for q, o in chosen.items() if o is not None} == set(accepted)


async def test_answers_racing_the_end_in_parallel_are_all_or_nothing(api: Api) -> None:
    """Saves in flight while reads end the test: the result holds exactly the saves that
    were answered 200 (the end is a compare-and-set on the answers' version)."""
    learner = await api.register()
    test = await start_test(api, learner, exam="NEET", questions=80)
    ids = question_ids(test)
    await move_end(test["id"], utcnow() + timedelta(seconds=0.2))

    async def late_save(i: int, qid: str) -> tuple[str, int]:
        await asyncio.sleep(i * 0.015)
        return qid, (await save(api, learner, test["id"], qid, i % 4)).status_code

    async def reader() -> tuple[str, int]:
        for _ in range(40):
            await api.client.get(f"{BASE}/tests/{test['id']}", headers=learner["auth"])
            await asyncio.sleep(0.03)
        return "", 0

    *saves, _ = await asyncio.gather(*(late_save(i, q) for i, q in enumerate(ids)), reader())
    assert {code for _, code in saves} == {200, 409}
    view = (await api.client.get(f"{BASE}/tests/{test['id']}", headers=learner["auth"])).json()
    chosen = {q["id"] for q in view["result"]["questions"] if q["chosen"] is not None}
    assert chosen == {qid for qid, code in saves if code == 200}
    assert view["result"]["unanswered"] == len(ids) - len(chosen)


async def test_a_result_feeds_the_learner_memory_once(api: Api) -> None:
    learner = await api.register()
    test = await start_test(api, learner, questions=6)
    key = await answer_key(test["id"])
    for qid, answer in key.items():
        assert (await save(api, learner, test["id"], qid, (answer + 1) % 4)).status_code == 200
    for _ in range(2):
        response = await api.client.post(
            f"{BASE}/tests/{test['id']}/submit", headers=learner["auth"]
        )
        assert response.json()["wrong"] == 6
    topics = {i.topic_id for i in (await stored(test["id"])).items}
    user_id = PydanticObjectId(learner["user"]["id"])
    memory = await LearnerTopic.find({"user_id": user_id}).to_list()
    assert {m.topic_id for m in memory} == topics
    assert all(m.counts.quiz_wrong == 1 for m in memory)  # one signal per topic and test
    me = (await api.client.get(f"{BASE}/users/me", headers=learner["auth"])).json()
    assert {w["topic_id"] for w in me["memory"]["weak_topics"]} & topics
    # The next test favours those weak topics.
    follow_up = await start_test(api, learner, questions=10)
    asked = {i.topic_id for i in (await stored(follow_up["id"])).items}
    assert asked & topics


async def test_submitting_twice_gives_the_same_result_and_xp_once(api: Api) -> None:
    learner = await api.register()
    test = await start_test(api, learner, questions=12)
    key = await answer_key(test["id"])
    for qid, answer in list(key.items())[:8]:
        assert (await save(api, learner, test["id"], qid, answer)).status_code == 200
    url = f"{BASE}/tests/{test['id']}/submit"
    results = await asyncio.gather(
        *(api.client.post(url, headers=learner["auth"]) for _ in range(6))
    )
    assert {r.status_code for r in results} == {200}
    assert len({r.text for r in results}) == 1
    again = await api.client.post(url, headers=learner["auth"])
    assert again.json() == results[0].json()
    assert results[0].json()["correct"] == 8
    late = await save(api, learner, test["id"], list(key)[9], 0)
    assert late.status_code == 409 and late.json()["error"]["code"] == "test_ended"
    user_id = PydanticObjectId(learner["user"]["id"])
    events = await XpEvent.find({"user_id": user_id, "source": "test"}).to_list()
    assert [(e.source_id, e.amount) for e in events] == [(test["id"], 10 + 2 * 8)]
    # Mastery took the test in once: each topic records the test's id exactly once.
    masteries = await TopicMastery.find({"user_id": user_id}).to_list()
    assert masteries
    for m in masteries:
        assert [a.attempt_id for a in m.applied].count(PydanticObjectId(test["id"])) == 1
    assert sum(m.attempts for m in masteries) == 8 and sum(m.correct for m in masteries) == 8


async def test_xp_once_when_submit_and_the_servers_end_race(api: Api, app: Any) -> None:
    from server.practice import service

    learner = await api.register()
    test = await start_test(api, learner, questions=6)
    key = await answer_key(test["id"])
    for qid, answer in key.items():
        assert (await save(api, learner, test["id"], qid, answer)).status_code == 200
    await expire(test["id"])
    app_state = app.state.ctx
    from server.practice.router import practice_of

    practice = practice_of(app_state)
    url = f"{BASE}/tests/{test['id']}"
    outcomes = await asyncio.gather(
        api.client.post(f"{url}/submit", headers=learner["auth"]),
        api.client.get(url, headers=learner["auth"]),
        service.sweep(practice=practice),
        api.client.post(f"{url}/submit", headers=learner["auth"]),
    )
    assert outcomes[0].json() == outcomes[3].json() == outcomes[1].json()["result"]
    assert outcomes[1].json()["end_reason"] == "time_up"
    user_id = PydanticObjectId(learner["user"]["id"])
    assert await XpEvent.find({"user_id": user_id, "source": "test"}).count() == 1
    doc = await stored(test["id"])
    assert doc.effects_applied_at is not None


async def test_another_learners_test_is_not_found(api: Api) -> None:
    owner = await api.register()
    other = await api.register()
    test = await start_test(api, owner, questions=3)
    qid = question_ids(test)[0]
    url = f"{BASE}/tests/{test['id']}"
    checks = [
        await api.client.get(url, headers=other["auth"]),
        await save(api, other, test["id"], qid, 1),
        await api.client.post(f"{url}/submit", headers=other["auth"]),
        await api.client.get(f"{BASE}/tests/not-an-id", headers=owner["auth"]),
    ]
    assert [c.status_code for c in checks] == [404] * 4
    assert {c.json()["error"]["code"] for c in checks} == {"test_not_found"}
    listed = (await api.client.get(f"{BASE}/tests", headers=other["auth"])).json()
    assert listed["items"] == []
    assert (await stored(test["id"])).answers == {}
    foreign = await save(api, owner, test["id"], "665f1c2ab0e4a93d2c8b4567", 1)
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "question_not_in_test"
    too_far = await save(api, owner, test["id"], qid, 4)
    assert too_far.status_code == 422 and too_far.json()["error"]["code"] == "option_out_of_range"
    strict = await api.client.put(
        f"{url}/answers/{qid}", json={"option": "1"}, headers=owner["auth"]
    )
    assert strict.status_code == 422


async def test_an_open_test_past_its_end_is_submitted_by_a_read(api: Api) -> None:
    learner = await api.register()
    test = await start_test(api, learner, questions=5)
    qid = question_ids(test)[0]
    assert (await save(api, learner, test["id"], qid, 2)).status_code == 200
    await expire(test["id"])
    listed = (await api.client.get(f"{BASE}/tests", headers=learner["auth"])).json()
    assert listed["items"][0]["id"] == test["id"]
    assert listed["items"][0]["status"] == "submitted"
    doc = await stored(test["id"])
    assert doc.status == "submitted" and doc.end_reason == "time_up"
    assert doc.result is not None and doc.result.unanswered == 4


async def test_tests_are_listed_newest_first_in_pages(api: Api) -> None:
    learner = await api.register()
    made = [(await start_test(api, learner, questions=2))["id"] for _ in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (
            await api.client.get(f"{BASE}/tests", params=params, headers=learner["auth"])
        ).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]


async def test_tests_ask_published_questions_of_the_bank_and_the_learners_org(api: Api) -> None:
    learner = await api.register()
    org_id = PydanticObjectId(learner["user"]["org_id"])
    topic = "physics.work_energy_power"
    base = {
        "exams": ["JEE", "NEET"],
        "subject": "physics",
        "topic_id": topic,
        "difficulty": "medium",
        "options": ["a", "b", "c", "d"],
        "answer": 0,
        "explanation": "why",
        "active": True,
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    questions = MockTest.get_pymongo_collection().database["questions"]
    inserted = await questions.insert_many(
        [
            base
            | {
                "key": "org-pub",
                "stem": "ours, published",
                "org_id": org_id,
                "status": "published",
            },
            base
            | {"key": "org-draft", "stem": "ours, a draft", "org_id": org_id, "status": "draft"},
            base
            | {
                "key": "other-pub",
                "stem": "theirs",
                "org_id": PydanticObjectId(),
                "status": "published",
            },
            base | {"key": "retired", "stem": "retired", "active": False},
        ]
    )
    ours, draft, theirs, retired = inserted.inserted_ids
    test = await start_test(api, learner, topics=[topic], questions=200)
    asked = {PydanticObjectId(q) for q in question_ids(test)}
    assert ours in asked
    assert not asked & {draft, theirs, retired}
    bank = await questions.count_documents({"topic_id": topic, "org_id": None, "active": True})
    assert len(asked) == bank + 1


async def test_quiz_answers_racing_a_tests_effects_lose_nothing(api: Api) -> None:
    learner = await api.register()
    test = await start_test(api, learner, topics=["physics.kinematics"], questions=5)
    key = await answer_key(test["id"])
    for qid, answer in key.items():
        assert (await save(api, learner, test["id"], qid, answer)).status_code == 200
    others = (
        await Question.find(
            {"topic_id": "physics.kinematics", "_id": {"$nin": [PydanticObjectId(q) for q in key]}}
        )
        .limit(10)
        .to_list()
    )
    answers = await asyncio.gather(
        api.client.post(f"{BASE}/tests/{test['id']}/submit", headers=learner["auth"]),
        *(
            api.client.post(
                f"{BASE}/quiz/attempts",
                json={"question_id": str(q.id), "option": 0},
                headers=learner["auth"],
            )
            for q in others
        ),
    )
    assert [a.status_code for a in answers] == [200] + [201] * len(others)
    mastery = await TopicMastery.find_one(
        {"user_id": PydanticObjectId(learner["user"]["id"]), "topic_id": "physics.kinematics"}
    )
    assert mastery is not None
    assert mastery.attempts == len(key) + len(others)  # every answer counted, none twice
    assert mastery.version == 1 + len(others)


async def test_the_sweep_finishes_effects_an_ender_left_undone(api: Api, app: Any) -> None:
    """A crash between ending a test and its effects: the sweep applies them, once."""
    from server.practice import service
    from server.practice.router import practice_of

    learner = await api.register()
    test = await start_test(api, learner, questions=4)
    key = await answer_key(test["id"])
    for qid, answer in key.items():
        assert (await save(api, learner, test["id"], qid, answer)).status_code == 200
    result = (
        await api.client.post(f"{BASE}/tests/{test['id']}/submit", headers=learner["auth"])
    ).json()
    user_id = PydanticObjectId(learner["user"]["id"])
    # Undo the effects as if the process had died right after the compare-and-set.
    await XpEvent.get_pymongo_collection().delete_many({"user_id": user_id, "source": "test"})
    await MockTest.get_pymongo_collection().update_one(
        {"_id": PydanticObjectId(test["id"])},
        {
            "$set": {
                "effects_applied_at": None,
                "submitted_at": utcnow() - timedelta(minutes=5),
            }
        },
    )
    practice = practice_of(app.state.ctx)
    await asyncio.gather(service.sweep(practice=practice), service.sweep(practice=practice))
    events = await XpEvent.find({"user_id": user_id, "source": "test"}).to_list()
    assert [e.amount for e in events] == [10 + 2 * result["correct"]]
    assert (await stored(test["id"])).effects_applied_at is not None
    masteries = await TopicMastery.find({"user_id": user_id}).to_list()
    assert sum(m.attempts for m in masteries) == len(key)  # mastery was not applied twice
