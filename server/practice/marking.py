"""Scoring a test: pure arithmetic on the test's own copy of its questions and the answers
saved (docs/PRACTICE.md, "Marking"). Counts first, then marks from counts, so a score is
`correct * c + wrong * w + unanswered * u` exactly (rounded to 2 places), whatever the order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from models.mock_test import (
    Marking,
    PaperItem,
    PaperResult,
    QuestionResult,
    SavedAnswer,
    SectionResult,
    TopicResult,
)


@dataclass(slots=True)
class _Tally:
    correct: int = 0
    wrong: int = 0
    unanswered: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def answered(self) -> int:
        return self.correct + self.wrong

    def score(self, marking: Marking) -> float:
        return points(marking, self.correct, self.wrong, self.unanswered)


def points(marking: Marking, correct: int, wrong: int, unanswered: int) -> float:
    raw = correct * marking.correct + wrong * marking.wrong + unanswered * marking.unanswered
    return round(raw + 0.0, 2)


def accuracy(correct: int, wrong: int) -> float:
    """Right answers among the questions answered (0.0 when none was)."""
    answered = correct + wrong
    return round(correct / answered, 4) if answered else 0.0


def outcome_of(item: PaperItem, saved: SavedAnswer | None) -> str:
    if saved is None or saved.option is None:
        return "unanswered"
    return "correct" if saved.option == item.answer else "wrong"


def score(
    items: Sequence[PaperItem],
    answers: Mapping[str, SavedAnswer],
    marking: Marking,
    *,
    percentile: float | None = None,
    takers: int = 0,
) -> PaperResult:
    """The result of a test: totals, per section (in the test's order), per topic (most
    missed first) and per question (in the test's order)."""
    total = _Tally()
    sections: dict[str, _Tally] = {}
    section_size: dict[str, int] = {}
    topics: dict[str, _Tally] = {}
    questions: list[QuestionResult] = []
    time_spent = 0
    for item in items:
        saved = answers.get(str(item.question_id))
        outcome = outcome_of(item, saved)
        total.add(outcome)
        sections.setdefault(item.section, _Tally()).add(outcome)
        section_size[item.section] = section_size.get(item.section, 0) + 1
        topic = topics.setdefault(
            item.topic_id, _Tally(extra={"name": item.topic_name, "subject": item.subject})
        )
        topic.add(outcome)
        spent = saved.time_spent_ms if saved is not None else 0
        time_spent += spent
        questions.append(
            QuestionResult(
                id=str(item.question_id),
                section=item.section,
                topic_id=item.topic_id,
                chosen=saved.option if saved is not None else None,
                correct_option=item.answer,
                correct=outcome == "correct",
                explanation=item.explanation,
                time_spent_ms=spent,
            )
        )
    return PaperResult(
        score=total.score(marking),
        max_score=round(len(items) * marking.correct, 2),
        correct=total.correct,
        wrong=total.wrong,
        unanswered=total.unanswered,
        accuracy=accuracy(total.correct, total.wrong),
        time_spent_ms=time_spent,
        sections=[
            SectionResult(
                name=name,
                score=tally.score(marking),
                max_score=round(section_size[name] * marking.correct, 2),
                correct=tally.correct,
                wrong=tally.wrong,
                unanswered=tally.unanswered,
                accuracy=accuracy(tally.correct, tally.wrong),
            )
            for name, tally in sections.items()
        ],
        topics=sorted(
            (
                TopicResult(
                    topic_id=topic_id,
                    name=tally.extra["name"],
                    subject=tally.extra["subject"],
                    correct=tally.correct,
                    wrong=tally.wrong,
                    unanswered=tally.unanswered,
                )
                for topic_id, tally in topics.items()
            ),
            key=lambda t: (-t.wrong, -t.unanswered, t.topic_id),
        ),
        questions=questions,
        percentile=percentile,
        takers=takers,
    )
