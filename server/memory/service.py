"""Learner memory: which syllabus topics a learner finds hard, from evidence in what they write.

Deterministic and explainable (docs/LEARNER_MEMORY.md): each piece of evidence adds a fixed
amount to a topic's weakness score, and scores halve every `HALF_LIFE_DAYS`. Scores are stored
scaled to a fixed epoch, so recording evidence is one atomic `$inc` and decay costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from beanie import PydanticObjectId
from pydantic import BaseModel
from pymongo import UpdateOne

from models import LearnerTopic, TopicRef
from models.common import utcnow
from server.memory.signals import confusion_phrases
from server.mongo import GroupCommit

SignalKind = Literal["mention", "confusion", "repeat", "quiz_wrong", "quiz_right", "declared"]

HALF_LIFE_DAYS: Final = 14.0
# Scores are stored as score * 2^((t - EPOCH) / half-life). Doubles hold that until about 2060;
# moving the epoch then is one multiplication over the collection.
EPOCH: Final = datetime(2025, 1, 1, tzinfo=UTC)
WEAK_THRESHOLD: Final = 0.5
AMOUNTS: Final[dict[SignalKind, float]] = {
    "mention": 0.0,
    "confusion": 1.0,
    "repeat": 0.4,
    "quiz_wrong": 0.75,
    "quiz_right": -0.5,
    "declared": 1.0,
}
# Evidence counts fully for the message's most relevant topic, partly for the others.
SECONDARY_FACTOR: Final = 0.6
REPEAT_WINDOW: Final = 5  # earlier learner messages in the conversation that count as "again"
MAX_REPEATS: Final = 2


def _log_growth(at: datetime) -> float:
    return (at - EPOCH).total_seconds() / (HALF_LIFE_DAYS * 86_400) * math.log(2)


def to_weight(score: float, at: datetime) -> float:
    """A score observed at `at`, in the stored epoch scale."""
    return score * math.exp(_log_growth(at))


def to_score(weight: float, now: datetime) -> float:
    """The decayed score now of a stored weight."""
    return weight * math.exp(-_log_growth(now))


@dataclass(frozen=True, slots=True)
class Evidence:
    topic: TopicRef
    kind: SignalKind
    amount: float
    reason: str


class WeakTopicView(BaseModel):
    """A weak topic as the user document and the mentor's prompt show it."""

    topic_id: str
    name: str
    subject: str
    score: float
    updated_at: datetime
    reason: str | None = None


def assess(
    *, text: str, topics: Sequence[TopicRef], earlier: Sequence[Sequence[TopicRef]]
) -> list[Evidence]:
    """The evidence one learner message gives; pure, so the rules are testable on their own.

    `earlier` holds the topics of the learner's previous messages in the conversation, newest
    first. A confused message with no topic of its own ("I still don't get it") is about the
    topic the learner was just asking about.
    """
    phrases = confusion_phrases(text)
    subjects: list[TopicRef] = list(topics)
    mentioned = bool(subjects)
    if not subjects and phrases:
        subjects = next((list(e) for e in earlier[:2] if e), [])
    evidence: list[Evidence] = []
    recent = earlier[:REPEAT_WINDOW]
    for rank, topic in enumerate(subjects):
        factor = 1.0 if rank == 0 else SECONDARY_FACTOR
        if mentioned:
            evidence.append(Evidence(topic, "mention", 0.0, "asked about it"))
        if phrases:
            evidence.append(
                Evidence(
                    topic,
                    "confusion",
                    round(AMOUNTS["confusion"] * factor, 4),
                    f'said "{phrases[0]}"',
                )
            )
        if mentioned:
            repeats = sum(1 for e in recent if any(t.id == topic.id for t in e))
            if repeats:
                counted = min(repeats, MAX_REPEATS)
                evidence.append(
                    Evidence(
                        topic,
                        "repeat",
                        round(AMOUNTS["repeat"] * counted * factor, 4),
                        f"asked about it again ({repeats} of the last {len(recent)} messages)",
                    )
                )
    return evidence


# Interactive writes (a quiz answer, a mock test's result: a request waits) go at once, with
# whatever else is being written at that moment.
_topic_writes = GroupCommit(LearnerTopic.get_pymongo_collection, retry_duplicate_upserts=True)
# After-reply writes: nobody waits on them but the reply's own task, so they linger a
# little for the other replies' (one command for many under load).
_after_reply_writes = GroupCommit(
    LearnerTopic.get_pymongo_collection, retry_duplicate_upserts=True, linger_s=0.1
)


async def record(
    user_id: PydanticObjectId,
    evidence: Sequence[Evidence],
    *,
    at: datetime | None = None,
    after_reply: bool = False,
) -> None:
    """One atomic upsert per piece of evidence, sent together (and with other writers'
    evidence: `GroupCommit`); concurrent writers never lose an increment (a first insert that
    loses a race is retried and then matches). `after_reply`: nobody waits for it (the chat's
    after-reply work), so it may linger 100 ms to share a command with other replies'."""
    if not evidence:
        return
    at = at or utcnow()
    operations = []
    for item in evidence:
        inc: dict[str, float | int] = {f"counts.{item.kind}": 1}
        if item.amount:
            inc["weight"] = to_weight(item.amount, at)
        set_: dict[str, object] = {"updated_at": at}
        if item.kind != "mention":
            set_["last_reason"] = item.reason
        operations.append(
            UpdateOne(
                {"user_id": user_id, "topic_id": item.topic.id},
                {
                    "$inc": inc,
                    "$set": set_,
                    "$setOnInsert": {
                        "name": item.topic.name,
                        "subject": item.topic.subject,
                        "first_seen_at": at,
                    },
                },
                upsert=True,
            )
        )
    # With the other replies' evidence written at the same moment, in one command.
    writes = _after_reply_writes if after_reply else _topic_writes
    failed = [code for code in await writes.submit(operations) if code is not None]
    if failed:
        raise RuntimeError(f"learner topic upserts failed with codes {sorted(set(failed))}")


async def signal(
    user_id: PydanticObjectId,
    topic: TopicRef,
    kind: SignalKind,
    *,
    reason: str,
    at: datetime | None = None,
) -> None:
    """Evidence from elsewhere (quiz answers, imported profiles), at its standard amount."""
    await record(user_id, [Evidence(topic, kind, AMOUNTS[kind], reason)], at=at)


_WEAK_FIELDS: Final = dict.fromkeys(
    ("topic_id", "name", "subject", "weight", "updated_at", "last_reason"), 1
)


async def weak_topics(
    user_id: PydanticObjectId | None, *, limit: int = 8, now: datetime | None = None
) -> list[WeakTopicView]:
    """The learner's weakest topics now, weakest first; those decayed below the threshold
    drop out. The stored weight orders like the decayed score, so the index serves this."""
    if user_id is None:
        return []
    now = now or utcnow()
    floor = to_weight(WEAK_THRESHOLD, now)
    # The driver and only the fields shown: read for every chat message.
    cursor = (
        LearnerTopic.get_pymongo_collection()
        .find(
            {"user_id": user_id, "weight": {"$gte": floor}},
            _WEAK_FIELDS,
        )
        .sort([("weight", -1)])
        .limit(limit)
    )
    return [
        WeakTopicView(
            topic_id=d["topic_id"],
            name=d["name"],
            subject=d["subject"],
            score=round(to_score(d["weight"], now), 3),
            updated_at=d["updated_at"],
            reason=d.get("last_reason"),
        )
        async for d in cursor
    ]


async def declared_topic_ids(*, user_id: PydanticObjectId) -> set[str]:
    """Topics the learner has declared weak at least once (an imported profile's list): a
    re-import adds declared evidence only for topics not yet declared, so it counts once."""
    cursor = LearnerTopic.get_pymongo_collection().find(
        {"user_id": user_id, "counts.declared": {"$gt": 0}}, projection={"topic_id": 1}
    )
    return {str(raw["topic_id"]) async for raw in cursor}
