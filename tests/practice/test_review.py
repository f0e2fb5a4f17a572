"""Review of the practice contract from a client's side: exam spellings, counts beyond the
bank, the contract's own field names for questions, and CSV uploads as files."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from models import Question
from server.practice.patterns import MAX_QUESTIONS
from server.quiz.visibility import visible_filter
from tests.admin.helpers import World, build_world
from tests.conftest import Api
from tests.practice.helpers import BASE, question_ids, start_test


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await build_world(api, f"review-{uuid.uuid4().hex[:6]}")


@pytest.mark.parametrize(
    ("exam", "pattern"),
    [
        ("jee", "jee_main_3"),
        ("JEE-Main", "jee_main_3"),
        ("jee_main", "jee_main_3"),
        ("NEET-UG", "neet_3"),
        ("neet (ug)", "neet_3"),
        ("UPSC-CSE", "upsc_prelims_gs_3"),
        ("IIT-JEE", "jee_main_3"),
    ],
)
async def test_exam_spellings_learners_use_are_accepted(api: Api, exam: str, pattern: str) -> None:
    learner = await api.register()
    test = await start_test(api, learner, exam=exam, questions=3)
    assert test["pattern"] == pattern
    assert len(question_ids(test)) == 3


async def test_an_exam_without_a_pattern_is_unknown(api: Api) -> None:
    learner = await api.register()
    for exam in ("GATE", "CAT 2025", "---"):
        response = await api.client.post(
            f"{BASE}/tests", json={"exam": exam}, headers=learner["auth"]
        )
        assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_exam"


async def test_more_questions_than_the_bank_has_are_capped_not_refused(api: Api) -> None:
    learner = await api.register()
    longer = await start_test(api, learner, exam="JEE", questions=90)
    ids = question_ids(longer)
    assert len(ids) == 90 and len(set(ids)) == 90 and longer["pattern"] == "jee_main_90"
    assert [len(s["questions"]) for s in longer["sections"]] == [30, 30, 30]
    assert longer["duration_minutes"] == 216  # 180 minutes for 75: the same time per question
    upsc_subjects = ["upsc_gs1", "upsc_gs2", "upsc_gs3"]
    bank = await Question.find(
        {"exams": "UPSC", "subject": {"$in": upsc_subjects}, **visible_filter(None)}
    ).count()
    assert 100 < bank < MAX_QUESTIONS
    capped = await start_test(api, learner, exam="UPSC", questions=MAX_QUESTIONS)
    assert len(set(question_ids(capped))) == bank
    assert capped["pattern"] == f"upsc_prelims_gs_{bank}"
    assert capped["duration_minutes"] == -(-120 * bank // 100)
    most = await start_test(api, learner, exam="NEET", questions=5000)
    assert len(set(question_ids(most))) == MAX_QUESTIONS and most["pattern"] == "neet_200"
    custom = await start_test(
        api, learner, exam="JEE", topics=["physics.kinematics"], questions=1000
    )
    asked = len(question_ids(custom))
    assert 0 < asked < 1000
    assert custom["duration_minutes"] == max(1, -(-180 * asked // 75))
    no_topics = await start_test(api, learner, exam="NEET", topics=[], questions=4)
    assert no_topics["pattern"] == "neet_4"
    zero = await api.client.post(
        f"{BASE}/tests", json={"exam": "JEE", "questions": 0}, headers=learner["auth"]
    )
    assert zero.status_code == 422 and zero.json()["error"]["code"] == "validation_error"


async def test_questions_accept_the_contracts_field_names(api: Api, world: World) -> None:
    tag = uuid.uuid4().hex[:8]
    response = await api.client.post(
        f"{BASE}/questions",
        json={
            "topic_id": "physics.kinematics",
            "text": f"Which quantity is measured in newtons ({tag})?",
            "options": ["Force", "Velocity", "Energy", "Power"],
            "correct_option": 0,
            "explanation": "A newton is a kilogram metre per second squared.",
        },
        headers=world.mentor["auth"],
    )
    assert response.status_code == 201, response.text
    question = response.json()
    assert question["stem"] == question["text"] == f"Which quantity is measured in newtons ({tag})?"
    assert question["answer"] == question["correct_option"] == 0
    assert question["topic_id"] == "physics.kinematics"
    both = await api.client.post(
        f"{BASE}/questions",
        json={
            "topic_id": "physics.kinematics",
            "stem": f"Stem {tag}?",
            "text": f"Text {tag}?",
            "options": ["a", "b", "c", "d"],
            "answer": 0,
            "explanation": "Because.",
        },
        headers=world.mentor["auth"],
    )
    assert both.status_code == 422, both.text


async def test_a_csv_file_uploaded_as_a_form_is_imported(api: Api, world: World) -> None:
    tag = uuid.uuid4().hex[:6]
    csv_text = (
        "Topic_ID,Difficulty,Stem,Option_A,Option_B,Option_C,Option_D,Answer,Explanation\n"
        f"physics.kinematics,easy,Unit of speed {tag}?,m/s,m,s,kg,A,Distance per time.\n"
        f"physics.kinematics,easy,Bad {tag}?,a,b,c,d,Z,Because.\n"
        f"physics.kinematics,easy,Too many cells {tag}?,a,b,c,d,A,Because.,extra\n"
    )
    response = await api.client.post(
        f"{BASE}/questions/import",
        files={"file": ("questions.csv", csv_text.encode(), "text/csv")},
        headers=world.mentor["auth"],
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 1 and [r["row"] for r in report["invalid"]] == [2, 3]
    as_json = await api.client.post(
        f"{BASE}/questions/import",
        files={
            "file": (
                "questions.json",
                (
                    '[{"topic_id": "physics.kinematics", "stem": "Unit of work '
                    + tag
                    + '?", "options": ["J", "N", "W", "Pa"], "answer": 0, '
                    '"explanation": "A joule is a newton metre."}]'
                ).encode(),
                "application/octet-stream",
            )
        },
        headers=world.mentor["auth"],
    )
    assert as_json.status_code == 200, as_json.text
    assert as_json.json()["created"] == 1
    empty = await api.client.post(
        f"{BASE}/questions/import",
        data={"note": "no file"},
        files={"other": ("x.bin", b"\x00\x01", "application/zip")},
        headers=world.mentor["auth"],
    )
    assert empty.status_code in (415, 422), empty.text
    assert "error" in empty.json()
    learner = await api.register()
    for content, media in ((b"<questions/>", "application/xml"), (b"[]", "application/json")):
        refused = await api.client.post(
            f"{BASE}/questions/import",
            content=content,
            headers={**learner["auth"], "Content-Type": media},
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


async def test_unknown_fields_and_wrong_types_are_422_in_the_error_shape(api: Api) -> None:
    learner = await api.register()
    for body in (
        {"exam": "JEE", "colour": "blue"},
        {"exam": "JEE", "questions": "10"},
        {"exam": 7},
        {"exam": "JEE", "duration_minutes": 301},
    ):
        response = await api.client.post(f"{BASE}/tests", json=body, headers=learner["auth"])
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "validation_error"
    test = await start_test(api, learner, questions=2)
    qid = question_ids(test)[0]
    for answer, code in (
        ({"option": 4}, "option_out_of_range"),
        ({"option": "1"}, "validation_error"),
        ({"option": 1, "extra": 1}, "validation_error"),
    ):
        response = await api.client.put(
            f"{BASE}/tests/{test['id']}/answers/{qid}", json=answer, headers=learner["auth"]
        )
        assert response.status_code == 422 and response.json()["error"]["code"] == code
    good: dict[str, Any] = {"option": 1}
    response = await api.client.put(
        f"{BASE}/tests/{test['id']}/answers/{qid}", json=good, headers=learner["auth"]
    )
    assert response.status_code == 200 and response.json()["time_spent_ms"] == 0


async def test_an_edit_always_moves_the_stored_stamp(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edit's compare-and-set token is `updated_at` as MongoDB stores it (milliseconds):
    an edit within the same millisecond as the last one must still move it, or a concurrent
    editor holding the old stamp would overwrite half of this edit."""
    from datetime import UTC, datetime, timedelta

    from beanie import PydanticObjectId

    from models import Question
    from server.quiz import authoring

    tag = uuid.uuid4().hex[:8]
    created = await api.client.post(
        f"{BASE}/questions",
        json={
            "topic_id": "physics.kinematics",
            "stem": f"Which is a vector ({tag})?",
            "options": ["Velocity", "Speed", "Mass", "Time"],
            "answer": 0,
            "explanation": "Velocity has a direction.",
        },
        headers=world.mentor["auth"],
    )
    assert created.status_code == 201, created.text
    qid = PydanticObjectId(created.json()["id"])
    stamp = datetime(2030, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    await Question.get_pymongo_collection().update_one(
        {"_id": qid}, {"$set": {"updated_at": stamp}}
    )
    monkeypatch.setattr(authoring, "utcnow", lambda: stamp + timedelta(microseconds=400))
    edited = await api.client.patch(
        f"{BASE}/questions/{qid}", json={"difficulty": "hard"}, headers=world.mentor["auth"]
    )
    assert edited.status_code == 200, edited.text
    raw = await Question.get_pymongo_collection().find_one({"_id": qid})
    assert raw is not None and raw["updated_at"] > stamp


async def test_a_save_without_time_keeps_the_time_already_saved(api: Api) -> None:
    learner = await api.register()
    test = await start_test(api, learner, questions=2)
    qid = question_ids(test)[0]
    url = f"{BASE}/tests/{test['id']}/answers/{qid}"
    first = await api.client.put(
        url, json={"option": 2, "time_spent_ms": 4000}, headers=learner["auth"]
    )
    assert first.status_code == 200 and first.json()["time_spent_ms"] == 4000
    changed = await api.client.put(url, json={"option": 1}, headers=learner["auth"])
    assert changed.status_code == 200, changed.text
    assert changed.json()["option"] == 1 and changed.json()["time_spent_ms"] == 4000
    cleared = await api.client.put(url, json={"option": None}, headers=learner["auth"])
    assert cleared.json()["time_spent_ms"] == 4000
    other = question_ids(test)[1]
    fresh = await api.client.put(
        f"{BASE}/tests/{test['id']}/answers/{other}", json={"option": 0}, headers=learner["auth"]
    )
    assert fresh.status_code == 200 and fresh.json()["time_spent_ms"] == 0
    result = (
        await api.client.post(f"{BASE}/tests/{test['id']}/submit", headers=learner["auth"])
    ).json()
    times = {q["id"]: q["time_spent_ms"] for q in result["questions"]}
    assert times == {qid: 4000, other: 0}
    assert result["unanswered"] == 1 and result["correct"] + result["wrong"] == 1


async def test_signs_and_operators_make_options_and_questions_differ(
    api: Api, world: World
) -> None:
    """Punctuation is ignored when comparing options and questions, but a minus sign or an
    operator is mathematics: `+2` and `-2` are two options, `x+2=5` and `x-2=5` two questions."""
    from server.quiz.visibility import fingerprint, normalise

    assert normalise("-2 m/s") != normalise("2 m/s")
    assert normalise("x + y") == normalise("x+y") != normalise("x-y")
    assert normalise("Newton-metre!") == normalise("newton metre")
    assert normalise("−3") == normalise("-3")  # the minus sign and the hyphen-minus
    assert fingerprint("Solve x+2=5.", ["3", "7", "-3", "-7"]) != fingerprint(
        "Solve x-2=5.", ["3", "7", "-3", "-7"]
    )
    tag = uuid.uuid4().hex[:8]
    for stem in (f"Solve x+2=5 ({tag}).", f"Solve x-2=5 ({tag})."):
        response = await api.client.post(
            f"{BASE}/questions",
            json={
                "topic_id": "physics.kinematics",
                "stem": stem,
                "options": ["+3", "-3", "+7", "-7"],
                "answer": 0,
                "explanation": "Move the constant across.",
            },
            headers=world.mentor["auth"],
        )
        assert response.status_code == 201, response.text


async def test_a_test_assignment_is_done_by_a_fitting_test_that_does_not_name_it(
    api: Api,
) -> None:
    """The contract's clients know nothing of `assignment_id`: a member who sets out to do a
    test assignment takes a test of its exam (and topics) after it was set, and submits it."""
    from datetime import timedelta

    from models.common import utcnow
    from tests.practice.helpers import set_role

    mentor, learner = await api.register(), await api.register()
    await set_role(mentor, "mentor")
    before = await start_test(api, learner, exam="NEET", questions=2)
    await api.client.post(f"{BASE}/tests/{before['id']}/submit", headers=learner["auth"])
    group = (
        await api.client.post(f"{BASE}/groups", json={"name": "Batch"}, headers=mentor["auth"])
    ).json()
    joined = await api.client.post(
        f"{BASE}/groups/join", json={"invite_code": group["invite_code"]}, headers=learner["auth"]
    )
    assert joined.status_code == 200
    created = await api.client.post(
        f"{BASE}/groups/{group['id']}/assignments",
        json={
            "title": "NEET mock",
            "kind": "test",
            "exam": "NEET",
            "due_at": (utcnow() + timedelta(days=2)).isoformat(),
        },
        headers=mentor["auth"],
    )
    assert created.status_code == 201, created.text
    aid = created.json()["id"]

    async def completion() -> dict[str, Any]:
        page = (await api.client.get(f"{BASE}/assignments", headers=learner["auth"])).json()
        return dict({a["id"]: a for a in page["items"]}[aid]["completion"])

    assert (await completion())["status"] == "pending"  # the test before it does not count
    other = await start_test(api, learner, exam="JEE", questions=2)
    await api.client.post(f"{BASE}/tests/{other['id']}/submit", headers=learner["auth"])
    assert (await completion())["status"] == "pending"  # another exam's test does not count
    fits = await start_test(api, learner, exam="NEET", questions=3)
    assert (await completion())["status"] == "pending"  # started, not submitted
    await api.client.post(f"{BASE}/tests/{fits['id']}/submit", headers=learner["auth"])
    done = await completion()
    assert done["status"] == "completed" and done["test_id"] == fits["id"] and done["done"] == 1
    report = await api.client.get(
        f"{BASE}/groups/{group['id']}/assignments/{aid}", headers=mentor["auth"]
    )
    assert report.json()["members"][0]["completion"]["test_id"] == fits["id"]


async def test_a_fractional_time_from_a_browser_clock_is_rounded(api: Api) -> None:
    """`performance.now()` differences are fractional milliseconds: taken, rounded; a string
    or a boolean is still a 422."""
    learner = await api.register()
    test = await start_test(api, learner, questions=1)
    url = f"{BASE}/tests/{test['id']}/answers/{question_ids(test)[0]}"
    saved = await api.client.put(
        url, json={"option": 1, "time_spent_ms": 1234.6}, headers=learner["auth"]
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["time_spent_ms"] == 1235
    for bad in ("12", True, -1):
        refused = await api.client.put(
            url, json={"option": 1, "time_spent_ms": bad}, headers=learner["auth"]
        )
        assert refused.status_code == 422, (bad, refused.text)


async def test_an_unknown_assignment_topic_names_the_field_sent(api: Api) -> None:
    from datetime import timedelta

    from models.common import utcnow
    from tests.practice.helpers import set_role

    mentor = await api.register()
    await set_role(mentor, "mentor")
    group = (
        await api.client.post(f"{BASE}/groups", json={"name": "Batch"}, headers=mentor["auth"])
    ).json()
    response = await api.client.post(
        f"{BASE}/groups/{group['id']}/assignments",
        json={
            "title": "Topics",
            "kind": "topic",
            "topic_ids": ["physics.no_such_topic"],
            "due_at": (utcnow() + timedelta(days=1)).isoformat(),
        },
        headers=mentor["auth"],
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_topic"
    assert [f["field"] for f in error["details"]["fields"]] == ["topic_ids"]


async def test_a_deleted_question_is_gone_for_clients_and_can_be_restored(
    api: Api, world: World
) -> None:
    tag = uuid.uuid4().hex[:8]
    created = await api.client.post(
        f"{BASE}/questions",
        json={
            "topic_id": "chemistry.mole_concept",
            "stem": f"How many particles are in a mole ({tag})?",
            "options": ["6.022e23", "3.011e23", "1.0e23", "6.022e22"],
            "answer": 0,
            "explanation": "Avogadro's number.",
            "status": "published",
        },
        headers=world.mentor["auth"],
    )
    assert created.status_code == 201, created.text
    qid = created.json()["id"]
    url = f"{BASE}/questions/{qid}"
    auth = world.mentor["auth"]

    async def listed(**params: Any) -> set[str]:
        page = await api.client.get(
            f"{BASE}/questions", params={"limit": 100, **params}, headers=auth
        )
        return {q["id"] for q in page.json()["items"]}

    assert qid in await listed()
    assert (await api.client.delete(url, headers=auth)).status_code == 204
    assert (await api.client.delete(url, headers=auth)).status_code == 204  # idempotent
    gone = await api.client.get(url, headers=auth)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "question_not_found"
    assert qid not in await listed()
    assert qid not in await listed(status="published")
    assert qid in await listed(active="false")
    restored = await api.client.patch(url, json={"active": True}, headers=auth)
    assert restored.status_code == 200 and restored.json()["active"] is True
    assert (await api.client.get(url, headers=auth)).status_code == 200
    assert qid in await listed()


async def test_learners_list_and_read_published_questions_only_without_answers(
    api: Api, world: World
) -> None:
    """The contract: "their organization's own questions (`status`: `draft` or `published`;
    learners only ever see published ones)"."""
    tag = uuid.uuid4().hex[:8]
    ids = {}
    for status in ("draft", "published"):
        created = await api.client.post(
            f"{BASE}/questions",
            json={
                "topic_id": "physics.kinematics",
                "stem": f"A {status} question on motion ({tag})?",
                "options": ["Yes", "No", "Maybe", "Never"],
                "answer": 1,
                "explanation": "Because.",
                "status": status,
            },
            headers=world.mentor["auth"],
        )
        assert created.status_code == 201, created.text
        ids[status] = created.json()["id"]
    learner = world.learner["auth"]
    seen: dict[str, Any] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 50, **({"cursor": cursor} if cursor else {})}
        page = await api.client.get(f"{BASE}/questions", params=params, headers=learner)
        assert page.status_code == 200, page.text
        seen |= {q["id"]: q for q in page.json()["items"]}
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert ids["published"] in seen and ids["draft"] not in seen
    assert all(q["status"] == "published" and q["active"] for q in seen.values())
    assert all(q["answer"] is None and q["explanation"] is None for q in seen.values())
    drafts = await api.client.get(f"{BASE}/questions", params={"status": "draft"}, headers=learner)
    assert drafts.status_code == 200 and drafts.json()["items"] == []
    one = await api.client.get(f"{BASE}/questions/{ids['published']}", headers=learner)
    assert one.status_code == 200 and one.json()["correct_option"] is None
    hidden = await api.client.get(f"{BASE}/questions/{ids['draft']}", headers=learner)
    assert hidden.status_code == 404
    foreign = await api.client.get(
        f"{BASE}/questions/{ids['published']}", headers=world.north_learner["auth"]
    )
    assert foreign.status_code == 404
    mentor = await api.client.get(
        f"{BASE}/questions/{ids['published']}", headers=world.mentor["auth"]
    )
    assert mentor.json()["answer"] == 1 and mentor.json()["explanation"] == "Because."
