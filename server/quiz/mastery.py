"""Topic mastery rules: pure functions, so the rules are testable without a database.

Points (0..100) move with every answer, in Khan Academy's manner: right answers raise them,
wrong ones lower them, so the level can drop again. Harder questions earn more and cost less
when missed; a missed easy question is the strongest sign of a gap. Easy questions alone only
make a learner `familiar`: proficiency has to be shown on medium or hard ones.

| level      | points  |
|------------|---------|
| attempted  | 0-39    |
| familiar   | 40-69   |
| proficient | 70-89   |
| mastered   | 90-100  |

Each topic also carries an FSRS card (`fsrs` package) reviewed with `Good` for a right answer
and `Again` for a wrong one; its `due` is when the topic should come back for review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from fsrs import Card, Rating, Scheduler, State

from models.question import Difficulty
from models.topic_mastery import FsrsCard, MasteryLevel

MAX_POINTS: Final = 100
GAIN: Final[Mapping[Difficulty, int]] = {"easy": 8, "medium": 12, "hard": 16}
LOSS: Final[Mapping[Difficulty, int]] = {"easy": 12, "medium": 8, "hard": 5}
# The most points right answers of a difficulty can lead to (easy: the top of `familiar`).
CEILING: Final[Mapping[Difficulty, int]] = {"easy": 69, "medium": 100, "hard": 100}
# (lowest points, level), highest first.
LEVELS: Final[tuple[tuple[int, MasteryLevel], ...]] = (
    (90, "mastered"),
    (70, "proficient"),
    (40, "familiar"),
    (0, "attempted"),
)
DIFFICULTY_RANK: Final[Mapping[Difficulty, int]] = {"easy": 0, "medium": 1, "hard": 2}

# Fuzzing off: the same answers give the same schedule, which keeps a recomputation after a
# lost compare-and-set (and the tests) deterministic. A learner has at most a few hundred
# topic cards, so spreading reviews over neighbouring days matters little.
# No (re)learning steps: a card is a whole syllabus topic, not a flashcard, so its reviews are
# days apart from the first answer (2 days after a right one, 1 after a wrong one, then growing
# as FSRS's stability does) instead of minutes, and "reviews due" means a topic to revisit today.
SCHEDULER: Final = Scheduler(enable_fuzzing=False, learning_steps=(), relearning_steps=())


def level_for(points: int) -> MasteryLevel:
    for floor, level in LEVELS:
        if points >= floor:
            return level
    return "attempted"


def points_after(points: int, *, correct: bool, difficulty: Difficulty) -> int:
    """The points after one answer, clamped to 0..100. A right answer never lowers points,
    even above its difficulty's ceiling (a right easy answer at 80 keeps 80)."""
    if correct:
        return max(points, min(points + GAIN[difficulty], CEILING[difficulty]))
    return max(0, points - LOSS[difficulty])


def target_difficulty(points: int) -> Difficulty:
    """The difficulty that best moves a learner on: easy until familiar, then medium, then
    hard from proficient on (what the next level needs)."""
    if points < 40:
        return "easy"
    if points < 70:
        return "medium"
    return "hard"


def _utc(at: datetime) -> datetime:
    # fsrs insists on `datetime.timezone.utc` itself; PyMongo returns its own UTC tzinfo.
    return at.astimezone(UTC)


def new_card(at: datetime) -> FsrsCard:
    """A fresh card, due now. The id is the creation time in ms, as fsrs does by default,
    without its 1 ms sleep."""
    at = _utc(at)
    card = Card(card_id=int(at.timestamp() * 1000), due=at)
    return from_fsrs(card)


def to_fsrs(card: FsrsCard) -> Card:
    return Card(
        card_id=card.card_id,
        state=State(card.state),
        step=card.step,
        stability=card.stability,
        difficulty=card.difficulty,
        due=_utc(card.due),
        last_review=_utc(card.last_review) if card.last_review else None,
    )


def from_fsrs(card: Card) -> FsrsCard:
    return FsrsCard(
        card_id=card.card_id,
        state=int(card.state.value),
        step=card.step,
        stability=card.stability,
        difficulty=card.difficulty,
        due=card.due,
        last_review=card.last_review,
    )


def review(card: FsrsCard, *, correct: bool, at: datetime) -> FsrsCard:
    """The card after one answer at `at`. Answers applied out of order (concurrent requests)
    are reviewed no earlier than the card's last review, so time never runs backwards."""
    at = _utc(at)
    if card.last_review is not None and at < card.last_review:
        at = _utc(card.last_review)
    rating = Rating.Good if correct else Rating.Again
    reviewed, _ = SCHEDULER.review_card(to_fsrs(card), rating, at)
    return from_fsrs(reviewed)


@dataclass(frozen=True, slots=True)
class Step:
    """One answer applied to a topic: points and level before and after, and the card."""

    before_points: int
    before_level: MasteryLevel
    after_points: int
    after_level: MasteryLevel
    card: FsrsCard


def apply_answer(
    *,
    points: int,
    card: FsrsCard,
    correct: bool,
    difficulty: Difficulty,
    at: datetime,
    repeat: bool = False,
) -> Step:
    """One answer's effect. A `repeat` (the same question again on the same local day, after
    its explanation was shown) is no new evidence: points and card stay as they are."""
    if repeat:
        level = level_for(points)
        return Step(points, level, points, level, card)
    after = points_after(points, correct=correct, difficulty=difficulty)
    return Step(
        before_points=points,
        before_level=level_for(points),
        after_points=after,
        after_level=level_for(after),
        card=review(card, correct=correct, at=at),
    )
