"""Marking and drawing as pure functions: thousands of seeded random answer sheets against an
independent computation, and the draw's rules (no repeats, priorities, caps, the patterns)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from beanie import PydanticObjectId

from models.mock_test import Marking, PaperItem, SavedAnswer
from server.practice import marking, selection
from server.practice.patterns import PATTERNS, SectionSpec, scaled
from server.quiz.drawing import Candidate

MARKINGS = [
    Marking(correct=4, wrong=-1, unanswered=0),
    Marking(correct=2, wrong=-0.66, unanswered=0),
    Marking(correct=3, wrong=-1, unanswered=-0.25),
]


def _items(rng: random.Random, n: int) -> list[PaperItem]:
    return [
        PaperItem(
            question_id=PydanticObjectId(),
            section=rng.choice(["A", "B", "C"]),
            topic_id=f"t.{rng.randrange(6)}",
            topic_name="T",
            subject="s",
            difficulty=rng.choice(["easy", "medium", "hard"]),
            stem="?",
            options=["a", "b", "c", "d"],
            answer=rng.randrange(4),
            explanation="because",
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("seed", range(300))
def test_random_sheets_are_marked_like_an_independent_count(seed: int) -> None:
    rng = random.Random(seed)
    items = _items(rng, rng.randrange(1, 181))
    scheme = MARKINGS[seed % len(MARKINGS)]
    answers = {}
    for item in items:
        pick = rng.random()
        if pick < 0.25:
            continue  # never touched
        option = None if pick < 0.35 else rng.randrange(4)  # saved, then cleared
        answers[str(item.question_id)] = SavedAnswer(
            option=option, time_spent_ms=rng.randrange(10**5)
        )
    result = marking.score(items, answers, scheme)
    # Independently: exact decimal arithmetic over the sheet, question by question.
    score = Decimal(0)
    tallies = {"right": 0, "wrong": 0, "blank": 0}
    sections: dict[str, Decimal] = {}
    for item in items:
        saved = answers.get(str(item.question_id))
        if saved is None or saved.option is None:
            mark, kind = Decimal(str(scheme.unanswered)), "blank"
        elif saved.option == item.answer:
            mark, kind = Decimal(str(scheme.correct)), "right"
        else:
            mark, kind = Decimal(str(scheme.wrong)), "wrong"
        score += mark
        tallies[kind] += 1
        sections[item.section] = sections.get(item.section, Decimal(0)) + mark
    assert (result.correct, result.wrong, result.unanswered) == (
        tallies["right"],
        tallies["wrong"],
        tallies["blank"],
    )
    assert Decimal(str(result.score)) == score.quantize(Decimal("0.01"))
    assert result.max_score == pytest.approx(len(items) * scheme.correct)
    answered = tallies["right"] + tallies["wrong"]
    assert result.accuracy == (round(tallies["right"] / answered, 4) if answered else 0.0)
    assert {s.name: Decimal(str(s.score)) for s in result.sections} == {
        k: v.quantize(Decimal("0.01")) for k, v in sections.items()
    }
    assert sum(t.correct + t.wrong + t.unanswered for t in result.topics) == len(items)
    assert result.time_spent_ms == sum(a.time_spent_ms for a in answers.values())


def _candidates(per_topic: dict[str, int], subject: str = "physics") -> list[Candidate]:
    return [
        Candidate(id=PydanticObjectId(), topic_id=t, subject=subject, difficulty="medium")
        for t, n in per_topic.items()
        for _ in range(n)
    ]


def test_the_draw_never_repeats_and_caps_at_the_bank() -> None:
    pool = _candidates({f"physics.t{i}": 3 for i in range(5)})
    pool += pool[:4]  # the same questions offered twice
    [(_, chosen)] = selection.draw(pool, [SectionSpec("Physics", ("physics",), 50)])
    assert len(chosen) == 15 and len({c.id for c in chosen}) == 15


def test_the_draw_spreads_over_topics_and_favours_priorities() -> None:
    pool = _candidates({"physics.big": 40, **{f"physics.t{i}": 4 for i in range(9)}})
    section = SectionSpec("Physics", ("physics",), 20)
    [(_, spread)] = selection.draw(pool, [section], rng=random.Random(3))
    per_topic = {t: sum(c.topic_id == t for c in spread) for t in {c.topic_id for c in pool}}
    assert max(per_topic.values()) <= 3, "a dense topic of the bank crowded the test"
    [(_, focused)] = selection.draw(
        pool, [section], priority_topics=["physics.t7", "physics.t8"], rng=random.Random(3)
    )
    favoured = sum(c.topic_id in ("physics.t7", "physics.t8") for c in focused)
    assert favoured >= int(20 * selection.PRIORITY_SHARE)


def test_sections_draw_only_their_subjects() -> None:
    pool = _candidates({"physics.a": 30}) + _candidates({"chemistry.b": 30}, "chemistry")
    drawn = selection.draw(pool, scaled(PATTERNS["JEE"], 30).sections)
    assert [(s.name, len(cs)) for s, cs in drawn] == [
        ("Physics", 10),
        ("Chemistry", 10),
        ("Mathematics", 0),
    ]
    assert all(c.subject == s.subjects[0] for s, cs in drawn for c in cs)


def test_scaled_patterns_keep_proportions_and_time_per_question() -> None:
    neet = scaled(PATTERNS["NEET"], 90)
    assert [s.questions for s in neet.sections] == [23, 22, 45]  # largest remainder, first
    assert neet.duration_minutes == 90 and neet.id == "neet_90"
    assert scaled(PATTERNS["JEE"], 75) is PATTERNS["JEE"]
    jee = scaled(PATTERNS["JEE"], 100)  # up as well as down
    assert [s.questions for s in jee.sections] == [34, 33, 33] and jee.id == "jee_main_100"
    assert jee.duration_minutes == 240
