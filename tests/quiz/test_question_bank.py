"""The shipped question bank (server/quiz/data/questions.json): shape, taxonomy links, coverage.

Pure and fast: reads the packaged JSON file, no database.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib.resources import files
from typing import Any

import pytest

from server.memory.taxonomy import Taxonomy, load_taxonomy
from server.quiz.bank import parse_bank

KEY = re.compile(r"[a-z0-9-]+")
FIELDS = {
    "key",
    "exams",
    "subject",
    "topic",
    "difficulty",
    "stem",
    "options",
    "answer",
    "explanation",
}
DIFFICULTIES = {"easy", "medium", "hard"}
MINIMUM_PER_SUBJECT = {"physics": 35, "chemistry": 35, "mathematics": 30, "biology": 30}
MINIMUM_UPSC = 30
MINIMUM_QUESTIONS = 160
MINIMUM_TOPICS = 80
MINIMUM_SHARE_PER_ANSWER_POSITION = 0.15


@pytest.fixture(scope="module")
def bank() -> dict[str, Any]:
    resource = files("server.quiz") / "data" / "questions.json"
    data: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def questions(bank: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = bank["questions"]
    return result


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def test_file_shape(bank: dict[str, Any]) -> None:
    assert set(bank) == {"version", "questions"}
    assert bank["version"] == 1
    assert isinstance(bank["questions"], list)
    assert len(bank["questions"]) >= MINIMUM_QUESTIONS


def test_every_question_has_the_right_fields_and_types(questions: list[dict[str, Any]]) -> None:
    for q in questions:
        key = q.get("key")
        assert set(q) == FIELDS, key
        for field in ("key", "subject", "topic", "difficulty", "stem", "explanation"):
            assert isinstance(q[field], str), (key, field)
        assert q["stem"].strip(), key
        assert q["explanation"].strip(), key
        assert q["difficulty"] in DIFFICULTIES, key
        assert isinstance(q["exams"], list), key
        assert q["exams"], key
        assert all(isinstance(e, str) and e for e in q["exams"]), key
        assert len(set(q["exams"])) == len(q["exams"]), key
        # bool is an int subclass; an answer of `true` would silently mean index 1
        assert type(q["answer"]) is int, key


def test_keys_are_unique_and_well_formed(questions: list[dict[str, Any]]) -> None:
    keys = [q["key"] for q in questions]
    duplicates = [k for k, n in Counter(keys).items() if n > 1]
    assert not duplicates
    malformed = [k for k in keys if not KEY.fullmatch(k)]
    assert not malformed


def test_four_distinct_non_empty_options_and_answer_in_range(
    questions: list[dict[str, Any]],
) -> None:
    for q in questions:
        options = q["options"]
        assert isinstance(options, list), q["key"]
        assert len(options) == 4, q["key"]
        assert all(isinstance(o, str) and o.strip() for o in options), q["key"]
        normalized = {" ".join(o.lower().split()) for o in options}
        assert len(normalized) == 4, q["key"]
        assert 0 <= q["answer"] < len(options), q["key"]


def test_subjects_topics_and_exams_match_the_taxonomy(
    questions: list[dict[str, Any]], taxonomy: Taxonomy
) -> None:
    for q in questions:
        key = q["key"]
        subject = taxonomy.subjects.get(q["subject"])
        assert subject is not None, (key, q["subject"])
        topic = taxonomy.topics.get(q["topic"])
        assert topic is not None, (key, q["topic"])
        assert topic.subject == q["subject"], key
        assert set(q["exams"]) <= set(subject.exams), (key, q["exams"], subject.exams)


def test_coverage_per_subject(questions: list[dict[str, Any]], taxonomy: Taxonomy) -> None:
    per_subject = Counter(q["subject"] for q in questions)
    for subject, minimum in MINIMUM_PER_SUBJECT.items():
        assert per_subject[subject] >= minimum, (subject, per_subject[subject])
    upsc_subjects = {s.id for s in taxonomy.subjects.values() if "UPSC" in s.exams}
    assert upsc_subjects
    assert sum(per_subject[s] for s in upsc_subjects) >= MINIMUM_UPSC
    # every UPSC GS paper of the taxonomy is represented
    assert all(per_subject[s] > 0 for s in upsc_subjects), per_subject


def test_questions_are_spread_over_many_topics(questions: list[dict[str, Any]]) -> None:
    assert len({q["topic"] for q in questions}) >= MINIMUM_TOPICS


def test_every_difficulty_is_used(questions: list[dict[str, Any]]) -> None:
    assert {q["difficulty"] for q in questions} == DIFFICULTIES


def test_correct_positions_are_spread(questions: list[dict[str, Any]]) -> None:
    positions = Counter(q["answer"] for q in questions)
    for index in range(4):
        share = positions[index] / len(questions)
        assert share >= MINIMUM_SHARE_PER_ANSWER_POSITION, (index, positions)


def test_the_bank_loader_accepts_the_file(bank: dict[str, Any], taxonomy: Taxonomy) -> None:
    specs = parse_bank(bank, taxonomy=taxonomy)
    assert [s.key for s in specs] == [q["key"] for q in bank["questions"]]
