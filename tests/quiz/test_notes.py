"""`GET /quiz/next` brings passages of the learner's own library on the question's topic
(`notes`), through the library's search, so nobody else's personal document ever appears."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from models import Question
from tests.conftest import Api
from tests.library.helpers import upload, wait_processed
from tests.quiz.helpers import question, replace_bank

LAWS = "physics.laws_of_motion"


@pytest.fixture(scope="module")
async def bank(app: Any) -> dict[str, Question]:
    return await replace_bank(
        [question("law-1", LAWS), question("kin-1", "physics.kinematics", answer=0)]
    )


async def _ready_text(api: Api, who: dict[str, Any], text: str, title: str) -> str:
    data = f"{text}\n\n(copy {uuid.uuid4().hex})\n".encode()
    response = await upload(api, who, data, filename="notes.txt", title=title)
    assert response.status_code == 202, response.text
    document = await wait_processed(api, who, response.json()["id"])
    assert document["status"] == "ready", document
    return str(document["id"])


async def _next(api: Api, who: dict[str, Any], topic: str) -> dict[str, Any]:
    response = await api.client.get(
        "/api/v1/quiz/next", params={"topic": topic}, headers=who["auth"]
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_next_question_comes_with_the_learners_notes_on_its_topic(
    api: Api, bank: dict[str, Question]
) -> None:
    me = await api.register(exam="JEE")
    assert (await _next(api, me, LAWS))["notes"] == []  # no library yet: an empty list
    mine = await _ready_text(
        api,
        me,
        "Newton's third law of motion: to every action there is an equal and opposite "
        "reaction. The two forces act on different bodies, so they never cancel.",
        "My laws of motion notes",
    )
    other_topic = await _ready_text(
        api,
        me,
        "Kinematics: a car starts from rest with uniform acceleration; its displacement "
        "is s = ut + at^2/2 and its velocity v = u + at.",
        "My kinematics notes",
    )
    someone = await api.register(exam="JEE")
    theirs = await _ready_text(
        api,
        someone,
        "Newton's laws of motion, third law: action and reaction are equal and opposite "
        "and act on different bodies.",
        "Someone else's notes",
    )
    body = await _next(api, me, LAWS)
    assert body["question"]["topic"]["id"] == LAWS
    notes = body["notes"]
    assert [n["document_id"] for n in notes] == [mine]
    assert set(notes[0]) == {"document_id", "title", "page", "quote"}
    assert notes[0]["title"] == "My laws of motion notes" and notes[0]["page"] == 1
    assert "equal and opposite reaction" in notes[0]["quote"]
    assert other_topic not in str(body) and theirs not in str(body)
    # And the other learner sees only their own.
    seen = await _next(api, someone, LAWS)
    assert [n["document_id"] for n in seen["notes"]] == [theirs]
