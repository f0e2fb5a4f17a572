"""Generated questions without AI keys: the offline writer cuts cloze and recall questions from
the organization's library and the topic's own material, each checked before it is stored as a
draft (docs/PRACTICE.md, "Questions")."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from beanie import PydanticObjectId

from models import AuditLog, Question
from server.memory.taxonomy import load_taxonomy
from server.quiz.offline_questions import BLANK, Draft, SourceText, make_drafts, solve
from server.quiz.visibility import normalise
from tests.admin.helpers import World, build_world
from tests.conftest import Api
from tests.library.helpers import upload, wait_processed

BASE = "/api/v1"
NOTES = (
    "# Motion in a straight line\n\n"
    "Velocity is the rate of change of displacement with time. Acceleration is the rate of "
    "change of velocity with time. A body falling freely near the Earth has an acceleration "
    "of 9.8 m/s^2 directed downwards. Displacement is the shortest distance between the "
    "initial and final positions of a body. Speed is the distance covered per unit time by a "
    "moving body. The velocity of a body in uniform motion stays constant, and its "
    "acceleration is zero. A car that speeds up from rest to 20 m/s in 5 s has a uniform "
    "acceleration of 4 m/s^2 along its motion.\n"
)


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await build_world(api, f"gen-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
async def document_id(api: Api, world: World) -> str:
    """Kinematics notes the mentor shared with the whole organization, processed."""
    response = await upload(api, world.mentor, NOTES.encode(), "motion.md", scope="org")
    assert response.status_code == 202, response.text
    processed = await wait_processed(api, world.mentor, response.json()["id"])
    assert processed["status"] == "ready", processed
    return str(processed["id"])


async def finished(api: Api, who: dict[str, Any], job_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        response = await api.client.get(f"{BASE}/jobs/{job_id}", headers=who["auth"])
        assert response.status_code == 200, response.text
        job = response.json()
        if job["status"] in ("complete", "failed"):
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.05)


async def generate(api: Api, who: dict[str, Any], **body: Any) -> Any:
    response = await api.client.post(f"{BASE}/questions/generate", json=body, headers=who["auth"])
    assert response.status_code == 202, response.text
    return await finished(api, who, response.json()["job_id"])


def check_offline(question: Question) -> None:
    """A stored offline draft: four distinct options, and the key is the one option that
    gives back the quoted sentence (the second pass, done again here)."""
    assert question.status == "draft" and question.active
    assert len({normalise(o) for o in question.options}) == 4
    quote = question.explanation.split(": “", 1)[1].rstrip("”")
    if question.stem.startswith("Fill in the blank: "):
        template = question.stem.removeprefix("Fill in the blank: ")
    else:
        assert question.stem.startswith("Which term ")
        assert question.options[question.answer].lower() in quote.lower()
        return
    fits = [
        i
        for i, o in enumerate(question.options)
        if normalise(template.replace(BLANK, o, 1)) == normalise(quote)
    ]
    assert fits == [question.answer], question.stem


async def test_offline_drafts_from_a_document_are_checked_and_deduplicated(
    api: Api, world: World, document_id: str
) -> None:
    job = await generate(
        api, world.mentor, topic_id="physics.kinematics", count=3, document_id=document_id
    )
    assert job["status"] == "complete", job
    result = job["result"]
    assert result["mode"] == "offline" and result["created"] == 3, result
    assert job["progress"]["done"] == job["progress"]["total"] == 3
    questions = [await Question.get(PydanticObjectId(i)) for i in result["question_ids"]]
    org_id = PydanticObjectId(world.mentor["user"]["org_id"])
    for question in questions:
        assert question is not None and question.org_id == org_id
        assert question.topic_id == "physics.kinematics" and question.difficulty == "easy"
        assert question.created_by == PydanticObjectId(world.id("mentor"))
        assert "motion" in question.explanation  # the document's title is cited
        check_offline(question)

    # The same request again: the material yields the same questions first, now duplicates,
    # so nothing is stored twice.
    again = await generate(
        api, world.mentor, topic_id="physics.kinematics", count=3, document_id=document_id
    )
    assert again["result"]["reasons"].get("duplicate", 0) >= 3, again["result"]
    assert not set(again["result"]["question_ids"]) & set(result["question_ids"])
    stems = [q.stem async for q in Question.find({"org_id": org_id, "status": "draft"})]
    assert len(stems) == len(set(stems))

    # The drafts reach no learner; the job is only its owner's to read; the audit has it.
    other = await api.client.get(f"{BASE}/jobs/{job['id']}", headers=world.learner["auth"])
    assert other.status_code == 404
    served = await api.client.get(
        f"{BASE}/quiz/next", params={"topic": "physics.kinematics"}, headers=world.learner["auth"]
    )
    assert served.json()["question"]["id"] not in result["question_ids"]
    assert await AuditLog.find_one({"action": "question.generate", "target_id": job["id"]})


async def test_offline_drafts_from_the_topics_material_without_a_document(
    api: Api, world: World
) -> None:
    job = await generate(api, world.north_admin, topic_id="physics.laws_of_motion", count=2)
    assert job["status"] == "complete" and job["result"]["created"] == 2, job
    for question_id in job["result"]["question_ids"]:
        question = await Question.get(PydanticObjectId(question_id))
        assert question is not None and question.topic_id == "physics.laws_of_motion"
        check_offline(question)


async def test_generation_requests_are_checked_before_queueing(
    api: Api, world: World, document_id: str
) -> None:
    url = f"{BASE}/questions/generate"
    learner = await api.client.post(
        url, json={"topic_id": "physics.kinematics"}, headers=world.learner["auth"]
    )
    assert learner.status_code == 403
    unknown = await api.client.post(
        url, json={"topic_id": "physics.nope"}, headers=world.mentor["auth"]
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_topic"
    too_many = await api.client.post(
        url, json={"topic_id": "physics.kinematics", "count": 21}, headers=world.mentor["auth"]
    )
    assert too_many.status_code == 422
    foreign = await api.client.post(
        url,
        json={"topic_id": "physics.kinematics", "document_id": document_id},
        headers=world.north_mentor["auth"],
    )
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "document_not_found"


def test_the_offline_solver_refuses_a_wrong_key() -> None:
    topic = load_taxonomy().get("physics.kinematics")
    assert topic is not None
    drafts = list(make_drafts(topic, [SourceText(title="Motion", text=NOTES)]))
    assert len(drafts) >= 5
    kinds = {d.stem.split(" ")[0] for d in drafts}
    assert kinds == {"Fill", "Which"}  # cloze and recall questions both
    assert drafts == list(make_drafts(topic, [SourceText(title="Motion", text=NOTES)]))
    for draft in drafts:
        assert solve(draft) == draft.answer
        wrong = Draft(
            stem=draft.stem,
            options=draft.options,
            answer=(draft.answer + 1) % 4,
            explanation=draft.explanation,
            evidence=draft.evidence,
            template=draft.template,
        )
        assert solve(wrong) != wrong.answer


async def test_without_a_document_the_organizations_shared_passages_come_first(
    api: Api, world: World, document_id: str
) -> None:
    job = await generate(api, world.mentor, topic_id="physics.kinematics", count=2)
    assert job["status"] == "complete" and job["result"]["created"] == 2, job
    cited = []
    for question_id in job["result"]["question_ids"]:
        question = await Question.get(PydanticObjectId(question_id))
        assert question is not None
        check_offline(question)
        cited.append(question.explanation.startswith("From “motion”"))
    assert all(cited), cited
    # Another organization's mentor never gets questions from this organization's notes.
    theirs = await generate(api, world.north_mentor, topic_id="physics.kinematics", count=3)
    assert theirs["result"]["created"] == 3, theirs
    for question_id in theirs["result"]["question_ids"]:
        question = await Question.get(PydanticObjectId(question_id))
        assert question is not None
        assert not question.explanation.startswith("From “motion”")
