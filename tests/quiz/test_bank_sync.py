"""The bank loader: validation of the file's shape against the taxonomy, and an idempotent sync."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from models import Question
from server.quiz.bank import BankError, QuestionSpec, parse_bank, seed_if_empty, sync_bank
from tests.quiz.helpers import bank_entry


def _bank(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "questions": list(entries)}


def test_a_valid_bank_parses() -> None:
    specs = parse_bank(
        _bank(
            bank_entry("phy-vec-001", "physics.vectors", exams=["jee", "NEET"]),
            bank_entry("bio-vir-001", "biology.viruses", exams=["NEET"], difficulty="hard"),
        )
    )
    assert [s.key for s in specs] == ["phy-vec-001", "bio-vir-001"]
    assert specs[0].content()["exams"] == ["JEE", "NEET"]
    assert specs[0].content()["topic_id"] == "physics.vectors"


def test_every_problem_is_reported_at_once() -> None:
    entries = [
        bank_entry("a-1", "physics.no_such_topic"),
        bank_entry("a-2", "physics.vectors", subject="chemistry"),
        bank_entry("a-3", "mathematics.sets", exams=["NEET"]),  # mathematics is JEE only
        bank_entry("a-4", "physics.vectors", options=["x", "X ", "y", "z"]),
        bank_entry("a-5", "physics.vectors", answer=4),
        bank_entry("a-6", "physics.vectors", options=["x", "y", "z"]),
        bank_entry("a-7", "physics.vectors", difficulty="brutal"),
        bank_entry("a-8", "physics.vectors", anwser=1),
        bank_entry("a-1", "physics.vectors"),
        bank_entry("a-9", "physics.vectors", stem="   "),
    ]
    with pytest.raises(BankError) as caught:
        parse_bank(_bank(*entries))
    message = str(caught.value)
    for expected in [
        "questions[0] (a-1): unknown topic 'physics.no_such_topic'",
        "questions[1] (a-2): topic 'physics.vectors' belongs to 'physics', not 'chemistry'",
        "questions[2] (a-3): exams ['NEET'] are not exams of 'mathematics'",
        "questions[3] (a-4): options must be distinct",
        "questions[4] (a-5): answer",
        "questions[5] (a-6): options",
        "questions[6] (a-7): difficulty",
        "questions[7] (a-8): anwser",
        "questions[8] (a-1): duplicate key (also questions[0])",
        "questions[9] (a-9): stem",
    ]:
        assert expected in message, expected


@pytest.mark.parametrize("data", [{"questions": []}, {"version": 2, "questions": []}, []])
def test_the_file_shape_is_checked(data: Any) -> None:
    with pytest.raises(BankError):
        parse_bank(data)


def _specs(count: int, **overrides: Any) -> list[QuestionSpec]:
    topics = ["physics.vectors", "physics.kinematics", "chemistry.mole_concept"]
    return parse_bank(
        _bank(*(bank_entry(f"s-{i}", topics[i % 3], **overrides) for i in range(count)))
    )


async def test_sync_is_idempotent_and_updates_only_what_changed(app: Any) -> None:
    await Question.get_pymongo_collection().delete_many({})
    specs = _specs(6)
    first = await sync_bank(specs)
    assert (first.created, first.updated, first.unchanged) == (6, 0, 0)
    stored = {q.key: q for q in await Question.find_all().to_list()}
    assert stored["s-0"].exams == ["JEE", "NEET"] and stored["s-0"].active
    assert stored["s-0"].answer == 2 and stored["s-0"].topic_id == "physics.vectors"

    second = await sync_bank(specs)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 6)
    again = {q.key: q for q in await Question.find_all().to_list()}
    assert {k: q.updated_at for k, q in again.items()} == {
        k: q.updated_at for k, q in stored.items()
    }

    # An admin retired one question; an edited file changes another and adds one more.
    await Question.get_pymongo_collection().update_one({"key": "s-1"}, {"$set": {"active": False}})
    edited = [*specs[:2], specs[2].model_copy(update={"stem": "A better stem?"}), *specs[3:]]
    third = await sync_bank([*edited, *_specs(7)[6:]])
    assert (third.created, third.updated, third.unchanged) == (1, 1, 5)
    after = {q.key: q for q in await Question.find_all().to_list()}
    assert after["s-2"].stem == "A better stem?" and after["s-2"].id == stored["s-2"].id
    assert after["s-1"].active is False  # a re-sync never revives a retired question
    assert len(after) == 7


async def test_two_processes_syncing_at_once_store_each_question_once(app: Any) -> None:
    await Question.get_pymongo_collection().delete_many({})
    specs = _specs(12)
    results = await asyncio.gather(sync_bank(specs), sync_bank(specs), sync_bank(specs))
    assert sum(r.created for r in results) == 12
    assert all(r.total == 12 and r.updated == 0 for r in results)
    assert await Question.get_pymongo_collection().count_documents({}) == 12


async def test_start_up_loads_a_bank_only_into_an_empty_collection(
    app: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="starguide.quiz")  # the log line must not raise
    await Question.get_pymongo_collection().delete_many({})
    path = tmp_path / "questions.json"
    path.write_text(json.dumps(_bank(bank_entry("seed-1", "physics.vectors"))), "utf-8")
    result = await seed_if_empty(path)
    assert result is not None and result.created == 1
    loaded = [getattr(r, "questions_created", None) for r in caplog.records]
    assert 1 in loaded
    assert await seed_if_empty(path) is None  # not empty any more: one cheap read, no sync
    await Question.get_pymongo_collection().delete_many({})
    assert await seed_if_empty(tmp_path / "missing.json") is None
    assert await Question.get_pymongo_collection().count_documents({}) == 0
