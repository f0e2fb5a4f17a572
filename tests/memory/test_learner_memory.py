"""Learner memory rules (pure) and their storage: atomic, decaying weakness scores."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from beanie import PydanticObjectId

from models import LearnerTopic, TopicRef
from models.common import utcnow
from server.memory import service as memory

KINEMATICS = TopicRef(id="physics.kinematics", name="Kinematics", subject="physics")
OPTICS = TopicRef(id="physics.ray_optics", name="Ray optics", subject="physics")


def test_scores_halve_every_half_life() -> None:
    now = utcnow()
    weight = memory.to_weight(2.0, now)
    assert memory.to_score(weight, now) == pytest.approx(2.0)
    later = now + timedelta(days=memory.HALF_LIFE_DAYS)
    assert memory.to_score(weight, later) == pytest.approx(1.0)
    assert memory.to_score(weight, later + timedelta(days=memory.HALF_LIFE_DAYS)) == (
        pytest.approx(0.5)
    )


def test_confusion_counts_fully_for_the_main_topic_and_partly_for_others() -> None:
    evidence = memory.assess(
        text="I don't understand this at all", topics=[KINEMATICS, OPTICS], earlier=[]
    )
    confusion = {e.topic.id: e.amount for e in evidence if e.kind == "confusion"}
    assert confusion == {KINEMATICS.id: 1.0, OPTICS.id: memory.SECONDARY_FACTOR}
    assert all(e.amount == 0 for e in evidence if e.kind == "mention")
    assert "don't understand" in next(e.reason for e in evidence if e.kind == "confusion")


def test_a_plain_question_is_a_mention_without_weakness() -> None:
    evidence = memory.assess(text="What is projectile motion?", topics=[KINEMATICS], earlier=[])
    assert [(e.kind, e.amount) for e in evidence] == [("mention", 0.0)]


def test_confusion_without_a_topic_applies_to_the_topic_just_discussed() -> None:
    evidence = memory.assess(text="I'm still confused", topics=[], earlier=[[], [KINEMATICS]])
    assert [(e.topic.id, e.kind) for e in evidence] == [(KINEMATICS.id, "confusion")]
    assert memory.assess(text="thanks!", topics=[], earlier=[[KINEMATICS]]) == []


def test_asking_again_is_a_repeat_capped_at_two() -> None:
    earlier = [[KINEMATICS], [OPTICS], [KINEMATICS], [KINEMATICS]]
    evidence = memory.assess(text="projectile range formula?", topics=[KINEMATICS], earlier=earlier)
    repeat = next(e for e in evidence if e.kind == "repeat")
    assert repeat.amount == pytest.approx(memory.AMOUNTS["repeat"] * memory.MAX_REPEATS)
    assert "3 of the last 4" in repeat.reason


async def test_concurrent_evidence_is_never_lost(app: Any) -> None:
    user_id = PydanticObjectId()
    now = utcnow()
    item = memory.Evidence(KINEMATICS, "confusion", 1.0, "said x")
    await asyncio.gather(*[memory.record(user_id, [item], at=now) for _ in range(20)])
    stored = await LearnerTopic.find_one({"user_id": user_id, "topic_id": KINEMATICS.id})
    assert stored is not None and stored.counts.confusion == 20
    assert memory.to_score(stored.weight, now) == pytest.approx(20.0)
    assert await LearnerTopic.find({"user_id": user_id}).count() == 1


async def test_weak_topics_are_ordered_and_decay_out(app: Any) -> None:
    user_id = PydanticObjectId()
    now = utcnow()
    old = now - timedelta(days=memory.HALF_LIFE_DAYS * 2)  # 1.0 then is 0.25 now
    await memory.record(user_id, [memory.Evidence(OPTICS, "confusion", 1.0, "old")], at=old)
    await memory.record(user_id, [memory.Evidence(KINEMATICS, "confusion", 1.0, "new")] * 2, at=now)
    await memory.signal(user_id, OPTICS, "quiz_wrong", reason="wrong answer", at=now)
    weak = await memory.weak_topics(user_id, now=now)
    assert [(w.topic_id, round(w.score, 2)) for w in weak] == [
        (KINEMATICS.id, 2.0),
        (OPTICS.id, round(0.25 + memory.AMOUNTS["quiz_wrong"], 2)),
    ]
    assert weak[1].reason == "wrong answer"
    later = now + timedelta(days=memory.HALF_LIFE_DAYS * 3)
    assert [w.topic_id for w in await memory.weak_topics(user_id, now=later)] == []
    assert await memory.weak_topics(None) == []
