"""What an ended test feeds: topic mastery and FSRS reviews (quiz), the learner memory, the
streak and badge counters, and XP: each once per test (docs/PRACTICE.md, "Exactly once").

Mastery is applied by the quiz feature under the test's id (a second call changes nothing);
the memory evidence and the badge counters, which are increments, are sent by the one call
that claims `signals_sent_at` on the test (a compare-and-set); the streak counts once per
local day anyway, and the XP award's ledger key is ("test", test id). So whoever runs this
(the submitter, a concurrent submit, the sweep after a crash) can run it again safely;
`effects_applied_at` only saves the sweep the work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from models import MockTest, TopicRef, User
from models.common import utcnow
from models.mock_test import PaperResult
from server.chat.limits import local_day
from server.memory import service as memory
from server.progress.service import ProgressService
from server.quiz import service as quiz

TEST_XP_BASE: Final = 10  # for ending a test with at least one answer
TEST_XP_PER_CORRECT: Final = 2
TEST_XP_MAX: Final = 250


def test_xp(result: PaperResult) -> int:
    """XP for a test: nothing for a blank sheet, else 10 plus 2 per right answer (at most
    250, a full NEET paper's worth)."""
    if result.correct + result.wrong == 0:
        return 0
    return min(TEST_XP_MAX, TEST_XP_BASE + TEST_XP_PER_CORRECT * result.correct)


def _answers(test: MockTest) -> list[quiz.PaperAnswer]:
    answers = []
    for item in test.items:
        saved = test.answers.get(str(item.question_id))
        if saved is None or saved.option is None:
            continue
        answers.append(
            quiz.PaperAnswer(
                question_id=item.question_id,
                topic=TopicRef(id=item.topic_id, name=item.topic_name, subject=item.subject),
                difficulty=item.difficulty,
                correct=saved.option == item.answer,
            )
        )
    return answers


async def _claim_signals(test: MockTest) -> bool:
    """True for the one call that may send the increments (memory evidence, badge counters)."""
    claimed = await MockTest.get_pymongo_collection().update_one(
        {"_id": test.id, "signals_sent_at": None}, {"$set": {"signals_sent_at": utcnow()}}
    )
    return bool(claimed.modified_count)


def _evidence(outcomes: list[quiz.TopicOutcome]) -> list[memory.Evidence]:
    evidence = []
    for o in outcomes:
        if o.wrong:
            amount = memory.AMOUNTS["quiz_wrong"] * o.wrong
            evidence.append(memory.Evidence(o.topic, "quiz_wrong", amount, "missed in a mock test"))
        if o.right:
            amount = memory.AMOUNTS["quiz_right"] * o.right
            evidence.append(memory.Evidence(o.topic, "quiz_right", amount, "right in a mock test"))
    return evidence


async def apply(*, test: MockTest, user: User, progress: ProgressService) -> None:
    assert test.id is not None and user.id is not None and test.result is not None
    at: datetime = test.submitted_at or utcnow()
    outcomes = await quiz.apply_test(
        user=user,
        test_id=test.id,
        answers=_answers(test),
        local_day=local_day(user, at).isoformat(),
        at=at,
    )
    counts: dict[Literal["quiz_correct", "topics_mastered"], int] = {}
    if await _claim_signals(test):
        # A crash right here loses the memory evidence of one test (as a quiz answer's can):
        # never sending it twice is the rule that matters for the weak-topic scores.
        await memory.record(user.id, _evidence(outcomes), at=at)
        counts = {
            "quiz_correct": test.result.correct,
            "topics_mastered": sum(o.first_mastered for o in outcomes),
        }
    await progress.record_activity(user=user, at=at, counts=counts)
    amount = test_xp(test.result)
    if amount:
        await progress.award(user=user, amount=amount, source="test", source_id=str(test.id), at=at)
    await MockTest.get_pymongo_collection().update_one(
        {"_id": test.id, "effects_applied_at": None}, {"$set": {"effects_applied_at": utcnow()}}
    )
