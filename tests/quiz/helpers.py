"""Shared pieces of the quiz tests: a few questions of our own, straight into the database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models import Question
from models.question import Difficulty


def question(
    key: str,
    topic_id: str,
    *,
    difficulty: Difficulty = "medium",
    exams: Sequence[str] = ("JEE", "NEET"),
    answer: int = 1,
) -> dict[str, Any]:
    """A question's fields (a Document can only be built once Beanie is initialised)."""
    return {
        "key": key,
        "exams": list(exams),
        "subject": topic_id.split(".")[0],
        "topic_id": topic_id,
        "difficulty": difficulty,
        "stem": f"Stem of {key}?",
        "options": [f"{key} option {i}" for i in range(4)],
        "answer": answer,
        "explanation": f"Because of the secret reason {key}.",
    }


async def replace_bank(questions: Sequence[dict[str, Any]]) -> dict[str, Question]:
    """Drops whatever is stored (the packaged bank loaded at start-up) and inserts ours."""
    await Question.get_pymongo_collection().delete_many({})
    await Question.insert_many([Question(**fields) for fields in questions])
    stored = await Question.find_all().to_list()
    return {q.key: q for q in stored}


def bank_entry(key: str, topic: str, **overrides: Any) -> dict[str, Any]:
    """One entry in the bank file's JSON shape."""
    entry: dict[str, Any] = {
        "key": key,
        "exams": ["JEE", "NEET"],
        "subject": topic.split(".")[0],
        "topic": topic,
        "difficulty": "easy",
        "stem": f"What is {key}?",
        "options": ["one", "two", "three", "four"],
        "answer": 2,
        "explanation": "Because.",
    }
    entry.update(overrides)
    return entry
