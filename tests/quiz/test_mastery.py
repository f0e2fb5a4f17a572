"""The pure mastery rules: points, levels, target difficulty and the FSRS card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson.tz_util import utc as bson_utc
from fsrs import State

from models import FsrsCard
from server.quiz import mastery

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("points", "level"),
    [
        (0, "attempted"),
        (39, "attempted"),
        (40, "familiar"),
        (69, "familiar"),
        (70, "proficient"),
        (89, "proficient"),
        (90, "mastered"),
        (100, "mastered"),
    ],
)
def test_level_thresholds(points: int, level: str) -> None:
    assert mastery.level_for(points) == level


def test_right_answers_gain_more_on_harder_questions_and_clamp_at_100() -> None:
    gains = [mastery.points_after(50, correct=True, difficulty=d) - 50 for d in mastery.GAIN]
    assert gains == sorted(gains) and gains[0] > 0
    assert mastery.points_after(95, correct=True, difficulty="hard") == 100


def test_wrong_answers_cost_more_on_easier_questions_and_clamp_at_0() -> None:
    losses = [50 - mastery.points_after(50, correct=False, difficulty=d) for d in mastery.LOSS]
    assert losses == sorted(losses, reverse=True) and losses[-1] > 0
    assert mastery.points_after(3, correct=False, difficulty="easy") == 0


def test_easy_questions_alone_only_make_a_learner_familiar() -> None:
    points = 0
    for _ in range(30):
        points = mastery.points_after(points, correct=True, difficulty="easy")
    assert points == 69 and mastery.level_for(points) == "familiar"
    # Above the ceiling, a right easy answer keeps the points; it never lowers them.
    assert mastery.points_after(80, correct=True, difficulty="easy") == 80
    assert mastery.points_after(80, correct=True, difficulty="medium") == 92


def test_a_wrong_answer_can_drop_the_level() -> None:
    step = mastery.apply_answer(
        points=92, card=mastery.new_card(AT), correct=False, difficulty="easy", at=AT
    )
    assert (step.before_points, step.before_level) == (92, "mastered")
    assert (step.after_points, step.after_level) == (80, "proficient")


def test_target_difficulty_follows_the_next_level() -> None:
    assert [mastery.target_difficulty(p) for p in (0, 39, 40, 69, 70, 100)] == [
        "easy", "easy", "medium", "medium", "hard", "hard",
    ]  # fmt: skip


def test_fsrs_right_answers_space_reviews_out_and_a_wrong_one_brings_the_topic_back() -> None:
    card = mastery.new_card(AT)
    assert card.due == AT and card.state == State.Learning.value
    at, gaps = AT, []
    for _ in range(3):
        card = mastery.review(card, correct=True, at=at)
        gaps.append(card.due - at)
        at = card.due
    # A topic, not a flashcard: no minute-scale learning steps, days from the first answer on.
    assert card.state == State.Review.value
    assert timedelta(days=1) <= gaps[0] < gaps[1] < gaps[2]
    lapsed = mastery.review(card, correct=False, at=at)
    assert lapsed.state == State.Review.value
    assert timedelta(days=1) <= lapsed.due - at < gaps[0] * 2
    assert lapsed.stability is not None and card.stability is not None
    assert lapsed.stability < card.stability


def test_card_round_trip_and_database_time_zones() -> None:
    # PyMongo reads dates with its own UTC tzinfo; fsrs accepts only datetime.UTC.
    card = mastery.review(mastery.new_card(AT), correct=True, at=AT)
    stored = card.model_copy(
        update={"due": card.due.astimezone(bson_utc), "last_review": AT.astimezone(bson_utc)}
    )
    again = mastery.review(
        stored, correct=True, at=(AT + timedelta(minutes=10)).astimezone(bson_utc)
    )
    assert again.due > card.due
    assert mastery.from_fsrs(mastery.to_fsrs(card)) == card


def test_reviews_never_go_back_in_time() -> None:
    card = mastery.review(mastery.new_card(AT), correct=True, at=AT + timedelta(hours=1))
    earlier = mastery.review(card, correct=True, at=AT)  # applied after a later answer
    assert earlier.last_review == card.last_review
    assert earlier.due >= card.due


def test_the_schedule_is_deterministic() -> None:
    def run() -> FsrsCard:
        card = mastery.new_card(AT)
        for i, correct in enumerate([True, True, False, True, True, True]):
            card = mastery.review(card, correct=correct, at=AT + timedelta(days=i))
        return card

    assert run() == run()


def test_a_repeat_changes_nothing() -> None:
    card = mastery.review(mastery.new_card(AT), correct=True, at=AT)
    step = mastery.apply_answer(
        points=50, card=card, correct=True, difficulty="hard", at=AT, repeat=True
    )
    assert (step.before_points, step.after_points, step.after_level) == (50, 50, "familiar")
    assert step.card == card
