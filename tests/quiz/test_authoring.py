"""Question management: mentors' and admins' questions for their organization, drafts that
learners never see, another organization's questions invisible, imports, and the bank sync
still idempotent next to them (docs/PRACTICE.md, "Questions")."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from models import AuditLog, Question
from server.memory.taxonomy import load_taxonomy
from server.quiz.bank import QuestionSpec, sync_bank
from server.quiz.visibility import fingerprint
from tests.admin.helpers import World, build_world, set_role
from tests.conftest import Api
from tests.quiz.helpers import bank_entry

BASE = "/api/v1"


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await build_world(api, f"north-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
async def empty_topic(app: Any) -> str:
    """A syllabus topic whose bank questions are retired (in this module's database): what
    learners are served there can only be ours."""
    topic = "biology.viruses"
    assert load_taxonomy().get(topic) is not None
    await Question.get_pymongo_collection().update_many(
        {"topic_id": topic, "org_id": None}, {"$set": {"active": False}}
    )
    return topic


def body(topic_id: str = "physics.kinematics", **overrides: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    data: dict[str, Any] = {
        "topic_id": topic_id,
        "difficulty": "easy",
        "stem": f"Which quantity is measured in metres per second ({tag})?",
        "options": ["Velocity", "Force", "Energy", "Power"],
        "answer": 0,
        "explanation": "Velocity is displacement per unit time.",
    }
    data.update(overrides)
    return data


async def create(api: Api, who: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post(f"{BASE}/questions", json=data, headers=who["auth"])
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def error(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def test_a_mentor_writes_a_draft_with_its_answer(api: Api, world: World) -> None:
    data = body(source={"exam": "JEE Main", "year": 2023})
    created = await create(api, world.mentor, data)
    assert created["status"] == "draft" and created["active"] is True
    assert created["answer"] == 0 and created["explanation"] == data["explanation"]
    assert created["topic"]["id"] == "physics.kinematics" and created["subject"] == "physics"
    assert set(created["exams"]) == {"JEE", "NEET"}
    assert created["source"] == {"exam": "JEE Main", "year": 2023}
    assert created["created_by"] == world.id("mentor")
    stored = await Question.get(PydanticObjectId(created["id"]))
    assert stored is not None and stored.org_id == PydanticObjectId(world.mentor["user"]["org_id"])
    assert stored.fingerprint == fingerprint(data["stem"], data["options"])


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"options": ["a", "b", "c"]}, "validation_error", "options"),
        ({"options": ["a", "b", "c", "d", "e"]}, "validation_error", "options"),
        ({"answer": 4}, "validation_error", "answer"),
        ({"answer": "1"}, "validation_error", "answer"),
        ({"explanation": "  "}, "validation_error", "explanation"),
        ({"explanation": None}, "validation_error", "explanation"),
        ({"topic_id": "physics.warp_drive"}, "unknown_topic", "topic_id"),
        ({"options": ["Velocity", "velocity.", "Energy", "Power"]}, "duplicate_options", "options"),
        ({"org_id": "0" * 24}, "validation_error", "org_id"),
    ],
)
async def test_invalid_questions_are_422_and_store_nothing(
    api: Api, world: World, change: dict[str, Any], code: str, field: str
) -> None:
    data = body(**change)
    before = await Question.get_pymongo_collection().count_documents({})
    response = await api.client.post(f"{BASE}/questions", json=data, headers=world.mentor["auth"])
    assert response.status_code == 422, response.text
    assert error(response) == code
    fields = [f["field"] for f in response.json()["error"]["details"]["fields"]]
    assert any(f.startswith(field) for f in fields), fields
    assert await Question.get_pymongo_collection().count_documents({}) == before


async def test_duplicates_of_the_org_or_the_bank_are_409(api: Api, world: World) -> None:
    data = body()
    await create(api, world.mentor, data)
    # The same question with other typography and the options in another order.
    copy = {
        **data,
        "stem": "  " + data["stem"].upper().replace("?", " ?"),
        "options": list(reversed(data["options"])),
        "answer": 3,
    }
    again = await api.client.post(f"{BASE}/questions", json=copy, headers=world.mentor["auth"])
    assert again.status_code == 409 and error(again) == "duplicate_question"
    # Another organization may write the same question for itself.
    await create(api, world.north_mentor, data)
    # A copy of a global bank question is a duplicate for everyone.
    bank = await Question.find_one({"org_id": None, "active": True})
    assert bank is not None
    copied = body(
        topic_id=bank.topic_id,
        stem=bank.stem,
        options=bank.options,
        answer=bank.answer,
        explanation=bank.explanation,
    )
    refused = await api.client.post(f"{BASE}/questions", json=copied, headers=world.root["auth"])
    assert refused.status_code == 409 and error(refused) == "duplicate_question"


async def test_learners_are_403_and_other_orgs_questions_404(api: Api, world: World) -> None:
    mine = await create(api, world.mentor, body())
    # Learners read (published ones only, see test_review), never write.
    drafted = await api.client.get(f"{BASE}/questions/{mine['id']}", headers=world.learner["auth"])
    assert drafted.status_code == 404 and error(drafted) == "question_not_found"
    for method, path, payload in (
        ("POST", "/questions", body()),
        ("PATCH", f"/questions/{mine['id']}", {"status": "published"}),
        ("DELETE", f"/questions/{mine['id']}", None),
        ("POST", "/questions/import", [body()]),
        ("POST", "/questions/generate", {"topic_id": "physics.kinematics"}),
    ):
        response = await api.client.request(
            method, f"{BASE}{path}", json=payload, headers=world.learner["auth"]
        )
        assert response.status_code == 403, (method, path, response.text)
    bank = await Question.find_one({"org_id": None})
    assert bank is not None
    for who, question_id in (
        (world.north_mentor, mine["id"]),  # another organization's
        (world.north_admin, mine["id"]),
        (world.mentor, str(bank.id)),  # the global bank is read-only here
        (world.mentor, "not-an-id"),
    ):
        for method, payload in (("GET", None), ("PATCH", {"stem": "Mine now?"}), ("DELETE", None)):
            response = await api.client.request(
                method, f"{BASE}/questions/{question_id}", json=payload, headers=who["auth"]
            )
            assert response.status_code == 404, (method, response.text)
            assert error(response) == "question_not_found"
    stored = await Question.get(PydanticObjectId(mine["id"]))
    assert stored is not None and stored.active and stored.status == "draft"


async def test_drafts_and_other_orgs_questions_never_reach_learners(
    api: Api, world: World, empty_topic: str
) -> None:
    created = await create(api, world.mentor, body(topic_id=empty_topic))
    qid, auth = created["id"], world.learner["auth"]

    async def next_for(who: dict[str, Any]) -> Any:
        return await api.client.get(
            f"{BASE}/quiz/next", params={"topic": empty_topic}, headers=who["auth"]
        )

    drafted = await next_for(world.learner)
    assert drafted.status_code == 404 and error(drafted) == "no_question_available"
    answer = {"question_id": qid, "option": 0}
    refused = await api.client.post(f"{BASE}/quiz/attempts", json=answer, headers=auth)
    assert refused.status_code == 404 and error(refused) == "question_not_found"

    published = await api.client.patch(
        f"{BASE}/questions/{qid}", json={"status": "published"}, headers=world.mentor["auth"]
    )
    assert published.status_code == 200 and published.json()["status"] == "published"
    served = await next_for(world.learner)
    assert served.status_code == 200 and served.json()["question"]["id"] == qid
    assert "answer" not in served.json()["question"]
    # Another organization's learner never gets it, nor may answer it.
    other = await next_for(world.north_learner)
    assert other.status_code == 404
    foreign = await api.client.post(
        f"{BASE}/quiz/attempts", json=answer, headers=world.north_learner["auth"]
    )
    assert foreign.status_code == 404

    retired = await api.client.delete(f"{BASE}/questions/{qid}", headers=world.mentor["auth"])
    assert retired.status_code == 204
    assert (await next_for(world.learner)).status_code == 404
    # Shown before it was retired: still answerable.
    late = await api.client.post(f"{BASE}/quiz/attempts", json=answer, headers=auth)
    assert late.status_code == 201 and late.json()["correct"] is True
    again = await api.client.delete(f"{BASE}/questions/{qid}", headers=world.mentor["auth"])
    assert again.status_code == 204  # idempotent

    actions = [
        a.action
        async for a in AuditLog.find({"target_id": qid, "target_type": "question"}).sort(
            "created_at"
        )
    ]
    assert actions == ["question.create", "question.publish", "question.retire"]
    entry = await AuditLog.find_one({"target_id": qid, "action": "question.publish"})
    assert entry is not None and entry.details == {}
    assert entry.actor_id == PydanticObjectId(world.id("mentor"))


async def test_edits_recheck_and_restore_and_list_pages(api: Api, world: World) -> None:
    first = await create(api, world.north_mentor, body(topic_id="chemistry.mole_concept"))
    second = await create(api, world.north_mentor, body(topic_id="chemistry.mole_concept"))
    third = await create(api, world.north_admin, body(topic_id="chemistry.mole_concept"))
    auth = world.north_mentor["auth"]
    url = f"{BASE}/questions/{first['id']}"

    edited = await api.client.patch(
        url, json={"stem": "What does one mole contain?", "answer": 2}, headers=auth
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["stem"] == "What does one mole contain?" and edited.json()["answer"] == 2
    bad = await api.client.patch(url, json={"answer": 7}, headers=auth)
    assert bad.status_code == 422
    nulled = await api.client.patch(url, json={"stem": None}, headers=auth)
    assert nulled.status_code == 422
    copy = await api.client.patch(
        url, json={"stem": second["stem"], "answer": second["answer"]}, headers=auth
    )
    assert copy.status_code == 409 and error(copy) == "duplicate_question"
    moved = await api.client.patch(url, json={"topic_id": "physics.kinematics"}, headers=auth)
    assert moved.status_code == 200 and moved.json()["subject"] == "physics"
    retired = await api.client.patch(url, json={"active": False}, headers=auth)
    assert retired.status_code == 200 and retired.json()["active"] is False
    restored = await api.client.patch(url, json={"active": True}, headers=auth)
    assert restored.status_code == 200 and restored.json()["active"] is True

    listed = await api.client.get(
        f"{BASE}/questions",
        params={"topic": "chemistry.mole_concept", "limit": 1},
        headers=auth,
    )
    assert listed.status_code == 200
    page = listed.json()
    assert [q["id"] for q in page["items"]] == [third["id"]] and page["next_cursor"]
    rest = await api.client.get(
        f"{BASE}/questions",
        params={"topic": "chemistry.mole_concept", "limit": 5, "cursor": page["next_cursor"]},
        headers=auth,
    )
    assert [q["id"] for q in rest.json()["items"]] == [second["id"]]
    assert rest.json()["next_cursor"] is None
    drafts = await api.client.get(f"{BASE}/questions", params={"status": "draft"}, headers=auth)
    ids = {q["id"] for q in drafts.json()["items"]}
    assert {first["id"], second["id"], third["id"]} <= ids
    assert all(q["status"] == "draft" for q in drafts.json()["items"])
    # Only the organization's own: the other organization's mentor lists none of these.
    theirs = await api.client.get(
        f"{BASE}/questions", params={"limit": 100}, headers=world.mentor["auth"]
    )
    assert not ids & {q["id"] for q in theirs.json()["items"]}


async def test_import_json_reports_created_and_invalid_rows(api: Api, world: World) -> None:
    good = [body(topic_id="biology.cell_structure") for _ in range(2)]
    existing = await create(api, world.mentor, body())
    rows = [
        good[0],
        {**good[1], "source": {"exam": "NEET", "year": 2021}, "status": "published"},
        body(options=["a", "b", "c"]),  # 3: three options
        body(topic_id="biology.unknown"),  # 4: unknown topic
        good[0],  # 5: the same as row 1
        {k: v for k, v in existing.items() if k in body()} | {"topic_id": "physics.kinematics"},
        "not an object",  # 7
    ]
    response = await api.client.post(
        f"{BASE}/questions/import", json=rows, headers=world.mentor["auth"]
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 2 and len(report["ids"]) == 2
    invalid = {r["row"]: r["errors"] for r in report["invalid"]}
    assert sorted(invalid) == [3, 4, 5, 6, 7]
    assert invalid[3][0]["field"] == "options"
    assert invalid[4][0]["type"] == "unknown_topic"
    assert invalid[5][0]["type"] == invalid[6][0]["type"] == "duplicate_question"
    stored = [await Question.get(PydanticObjectId(i)) for i in report["ids"]]
    assert [q.status for q in stored if q] == ["draft", "published"]
    assert stored[1] is not None and stored[1].source is not None
    assert stored[1].source.year == 2021
    audits = await AuditLog.find({"action": "question.import"}).to_list()
    assert set(report["ids"]) <= {a.target_id for a in audits}

    wrapped = await api.client.post(
        f"{BASE}/questions/import", json={"questions": rows[:2]}, headers=world.mentor["auth"]
    )
    assert wrapped.status_code == 200 and wrapped.json()["created"] == 0  # all duplicates
    not_a_list = await api.client.post(
        f"{BASE}/questions/import", json={"stem": "x"}, headers=world.mentor["auth"]
    )
    assert not_a_list.status_code == 422 and error(not_a_list) == "invalid_upload"
    empty = await api.client.post(f"{BASE}/questions/import", json=[], headers=world.mentor["auth"])
    assert empty.status_code == 422 and error(empty) == "invalid_upload"


async def test_import_csv_with_letters_and_sources(api: Api, world: World) -> None:
    tag = uuid.uuid4().hex[:6]
    csv_text = (
        "topic_id,difficulty,stem,option_a,option_b,option_c,option_d,answer,explanation,"
        "source_exam,source_year,status\n"
        f'physics.kinematics,easy,"Unit of velocity, {tag}?",m/s,m,s,kg,A,Distance per time.,'
        "JEE Main,2023,\n"
        f"physics.kinematics,hard,Unit of acceleration {tag}?,m/s,m/s^2,s,kg,b,Velocity per "
        "time.,,,published\n"
        f"physics.kinematics,easy,Bad answer {tag}?,a,b,c,d,E,Because.,,,\n"
        f"physics.kinematics,easy,Bad year {tag}?,a,b,c,d,A,Because.,NEET,last year,\n"
        f"physics.kinematics,medium,No explanation {tag}?,a,b,c,d,A,,,,\n"
    )
    response = await api.client.post(
        f"{BASE}/questions/import",
        content=csv_text.encode(),
        headers={**world.mentor["auth"], "Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 2
    invalid = {r["row"]: r["errors"][0]["field"] for r in report["invalid"]}
    assert invalid == {3: "answer", 4: "source_year", 5: "explanation"}
    first, second = [await Question.get(PydanticObjectId(i)) for i in report["ids"]]
    assert first is not None and second is not None
    assert first.stem == f"Unit of velocity, {tag}?" and first.answer == 0
    assert first.source is not None and (first.source.exam, first.source.year) == ("JEE Main", 2023)
    assert second.answer == 1 and second.status == "published" and second.difficulty == "hard"

    missing = await api.client.post(
        f"{BASE}/questions/import",
        content=b"topic_id,stem\nphysics.kinematics,x\n",
        headers={**world.mentor["auth"], "Content-Type": "text/csv"},
    )
    assert missing.status_code == 422 and error(missing) == "invalid_upload"
    xml = await api.client.post(
        f"{BASE}/questions/import",
        content=b"<questions/>",
        headers={**world.mentor["auth"], "Content-Type": "application/xml"},
    )
    assert xml.status_code == 415 and error(xml) == "unsupported_media_type"


async def test_bank_sync_stays_idempotent_next_to_org_questions(api: Api, world: World) -> None:
    ours = await create(api, world.mentor, body())
    specs = [
        QuestionSpec.model_validate(bank_entry(f"auth-sync-{i}", "physics.vectors", stem=f"V{i}?"))
        for i in range(3)
    ]
    first = await sync_bank(specs)
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    second = await sync_bank(specs)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    stored = await Question.find_one({"key": "auth-sync-0"})
    assert stored is not None and stored.org_id is None and stored.status == "published"
    assert stored.fingerprint == fingerprint("V0?", ["one", "two", "three", "four"])
    # A bank question stored before fingerprints existed gets one from the next sync, once.
    await Question.get_pymongo_collection().update_one(
        {"key": "auth-sync-1"}, {"$unset": {"fingerprint": "", "status": "", "org_id": ""}}
    )
    third = await sync_bank(specs)
    assert (third.created, third.updated, third.unchanged) == (0, 1, 2)
    mine = await Question.get(PydanticObjectId(ours["id"]))
    assert mine is not None and mine.status == "draft" and mine.org_id is not None


async def test_an_erased_mentors_questions_stay_without_their_author(api: Api) -> None:
    mentor = await set_role(await api.register(display_name="Leaving Mentor"), "mentor")
    written = await create(api, mentor, body(status="published"))
    erased = await api.client.delete(f"{BASE}/users/me", headers=mentor["auth"])
    assert erased.status_code == 204, erased.text
    kept = await Question.get(PydanticObjectId(written["id"]))
    assert kept is not None and kept.created_by is None and kept.status == "published"


async def test_racing_creates_of_one_question_store_it_once(api: Api, world: World) -> None:
    data = body()
    responses = await asyncio.gather(
        *(
            api.client.post(f"{BASE}/questions", json=data, headers=world.mentor["auth"])
            for _ in range(6)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    stored = await Question.get_pymongo_collection().count_documents({"stem": data["stem"]})
    assert stored == 1
    # The unique index is the guard, not the check before the insert.
    original = await Question.find_one({"stem": data["stem"]})
    assert original is not None
    copy = original.model_copy(update={"id": None, "key": f"copy-{uuid.uuid4().hex}"})
    with pytest.raises(DuplicateKeyError):
        await copy.insert()


async def test_the_openapi_document_lists_the_statuses(api: Api) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    expected = {
        ("/api/v1/questions", "post"): {201, 401, 403, 409, 422},
        ("/api/v1/questions", "get"): {200, 422},  # learners read published ones
        ("/api/v1/questions/{question_id}", "get"): {200, 404},
        ("/api/v1/questions/{question_id}", "patch"): {200, 403, 404, 409, 422},
        ("/api/v1/questions/{question_id}", "delete"): {204, 403, 404},
        ("/api/v1/questions/import", "post"): {200, 403, 413, 415, 422},
        ("/api/v1/questions/generate", "post"): {202, 403, 404, 409, 422},
    }
    for (path, method), statuses in expected.items():
        listed = {int(k) for k in paths[path][method]["responses"]}
        assert statuses <= listed, (path, method, sorted(listed))
    assert "text/csv" in paths["/api/v1/questions/import"]["post"]["requestBody"]["content"]
