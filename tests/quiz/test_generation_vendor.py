"""Generated questions with an AI vendor: the real OpenAI SDK against the fake vendor server.
The writer's JSON is checked item by item, a second request solves each question without its
key, and only questions the solver agrees with are stored (docs/PRACTICE.md, "Questions")."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from beanie import PydanticObjectId

from models import Question
from server.config import Settings
from server.quiz.ai_questions import parse_drafts, parse_letter
from tests.admin.helpers import World, build_world
from tests.ai_router.fakes import Behaviour, FakeVendors
from tests.conftest import Api, make_settings, vendor_settings
from tests.quiz.test_generation import finished

BASE = "/api/v1"


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory, fake_server: FakeVendors
) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("data"),
        ai_providers="openai",
        **vendor_settings(fake_server),
    )


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await build_world(api, f"ai-{uuid.uuid4().hex[:6]}")


def item(stem: str, answer: int, options: list[str] | None = None) -> dict[str, Any]:
    return {
        "stem": stem,
        "options": options or ["2 m/s²", "4 m/s²", "5 m/s²", "100 m/s²"],
        "answer": answer,
        "explanation": "a = (v − u) / t.",
    }


async def test_the_solver_must_agree_with_the_key(
    api: Api, world: World, fakes: FakeVendors
) -> None:
    tag = uuid.uuid4().hex[:6]
    agreed = item(f"A car reaches 20 m/s from rest in 5 s ({tag}). Its acceleration is", 1)
    disputed = item(f"A bus reaches 10 m/s from rest in 2 s ({tag}). Its acceleration is", 2)
    reply = {
        "questions": [
            agreed,
            disputed,
            item(f"Three options only ({tag})?", 0, ["a", "b", "c"]),  # malformed
            {**agreed, "options": list(reversed(agreed["options"])), "answer": 2},  # a copy
        ]
    }
    writer = "Here you go:\n```json\n" + json.dumps(reply, ensure_ascii=False) + "\n```"
    fakes.script(
        "openai",
        Behaviour(chunks=(writer[: len(writer) // 2], writer[len(writer) // 2 :])),
        Behaviour(chunks=("v = u + at gives 4 m/s².\n", "Answer: B")),
        Behaviour(chunks=("The answer is A",)),  # the key says C
    )
    response = await api.client.post(
        f"{BASE}/questions/generate",
        json={"topic_id": "physics.kinematics", "count": 4, "difficulty": "hard"},
        headers=world.mentor["auth"],
    )
    assert response.status_code == 202, response.text
    job = await finished(api, world.mentor, response.json()["job_id"])
    assert job["status"] == "complete", job
    result = job["result"]
    assert result["mode"] == "ai"
    assert result["created"] == 1 and result["rejected"] == 3, result
    assert result["reasons"] == {"duplicate": 1, "solver_disagreed": 1, "structure": 1}
    stored = await Question.get(PydanticObjectId(result["question_ids"][0]))
    assert stored is not None and stored.status == "draft" and stored.stem == agreed["stem"]
    assert stored.answer == 1 and stored.difficulty == "hard"
    assert stored.org_id == PydanticObjectId(world.mentor["user"]["org_id"])
    assert await Question.find_one({"stem": disputed["stem"]}) is None

    bodies = fakes.bodies("openai")
    assert len(bodies) == 3  # one writer call, one solver call per well-formed new question
    asked = json.dumps(bodies[0]["messages"])
    assert "JSON" in asked and "Kinematics" in asked and "hard" in asked
    solver = json.dumps(bodies[1]["messages"], ensure_ascii=False)
    assert agreed["stem"] in solver and "B) 4 m/s²" in solver
    assert agreed["explanation"] not in solver and '"answer"' not in solver  # no key shown


async def test_a_reply_that_is_not_json_stores_nothing(
    api: Api, world: World, fakes: FakeVendors
) -> None:
    fakes.script("openai", Behaviour(chunks=("I cannot write questions today.",)))
    response = await api.client.post(
        f"{BASE}/questions/generate",
        json={"topic_id": "physics.kinematics", "count": 2},
        headers=world.north_mentor["auth"],
    )
    job = await finished(api, world.north_mentor, response.json()["job_id"])
    assert job["status"] == "complete", job
    assert job["result"]["created"] == 0 and job["result"]["reasons"] == {"structure": 1}
    assert fakes.count("openai") == 1


def test_reply_parsing() -> None:
    drafts, malformed = parse_drafts(json.dumps([item("Q?", 3), {"stem": "x"}]))
    assert len(drafts) == 1 and drafts[0].answer == 3 and malformed == 1
    repeated = item("Q?", 0, ["A", "a", "b", "c"])  # options equal ignoring case
    assert parse_drafts(json.dumps({"questions": [repeated]})) == ([], 1)
    assert parse_drafts(json.dumps({"questions": [{**item("Q?", 1), "answer": "1"}]}))[1] == 1
    assert parse_letter("Answer: c") == 2
    assert parse_letter("Working... so the answer is (D).") == 3
    assert parse_letter("B") == 1
    assert parse_letter("It could be A or B") is None
