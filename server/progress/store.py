"""The `progress` document's writes: one atomic update at a time, and the streak's
compare-and-set. The service decides what to award; this module only applies it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from beanie import PydanticObjectId
from pymongo import ReturnDocument

from models import Progress, User
from models.achievement import Metric
from models.common import utcnow
from server.chat.limits import local_day
from server.mongo import upsert
from server.progress import levels, streaks

log = logging.getLogger("starguide.progress")

# Per-day counters older than this are dropped when the streak moves on to a new day.
DAYS_KEPT: Final = 35
_STREAK_TRIES: Final = 8


@dataclass(frozen=True, slots=True)
class Moment:
    """Who did something and when, with the local day fixed once for everything it causes."""

    user: User
    user_id: PydanticObjectId
    at: datetime
    day: date
    timezone: str

    @classmethod
    def of(cls, user: User, at: datetime) -> Moment:
        assert user.id is not None
        return cls(user, user.id, at, local_day(user, at), user.profile.timezone)


def metrics(progress: Progress) -> dict[Metric, int]:
    """The totals achievements are evaluated against."""
    return {
        "xp_total": progress.xp_total,
        "level": levels.level_for_xp(progress.xp_total),
        "streak_current": progress.streak.current,
        "chat_messages": progress.chat_messages,
        "daily_goals": progress.daily_goals,
        "quiz_correct": progress.quiz_correct,
        "topics_mastered": progress.topics_mastered,
    }


async def find(user_id: PydanticObjectId) -> Progress | None:
    return await Progress.find_one({"user_id": user_id})


async def update(moment: Moment, update: dict[str, Any]) -> Progress:
    """One atomic update of the learner's progress, returning it as written.

    The document is created on a learner's first event by a separate `$setOnInsert`
    upsert (race-free through `server.mongo.upsert`), then the update is applied to it:
    an upserting find-and-modify that loses the insert race is retried by MongoDB but, on
    the embedded dev database, answers without the document, and we need the values our
    own increment produced (the chat slot number).
    """
    update = dict(update)
    update["$set"] = {**update.get("$set", {}), "updated_at": utcnow()}
    collection = Progress.get_pymongo_collection()
    query = {"user_id": moment.user_id}
    raw = await collection.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)
    if raw is None:
        now = utcnow()
        blank = Progress(user_id=moment.user_id, org_id=moment.user.org_id, created_at=now)
        defaults = blank.model_dump(exclude={"id", "user_id", "revision_id"})
        await upsert(collection, query, {"$setOnInsert": defaults})
        raw = await collection.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
    assert raw is not None
    return Progress.model_validate(raw)


async def count_under_cap(moment: Moment, *, inc: dict[str, int], cap: int) -> Progress | None:
    """`inc` applied in one atomic update if today's message count is below `cap` (or not
    started), returning the progress as written; None otherwise, or when the learner has no
    progress yet (nothing is changed then)."""
    field = f"days.{moment.day.isoformat()}.messages"
    raw = await Progress.get_pymongo_collection().find_one_and_update(
        {"user_id": moment.user_id, "$or": [{field: {"$lt": cap}}, {field: {"$exists": False}}]},
        {"$inc": inc, "$set": {"updated_at": utcnow()}},
        return_document=ReturnDocument.AFTER,
    )
    return None if raw is None else Progress.model_validate(raw)


async def touch(moment: Moment, *, inc: dict[str, int]) -> Progress:
    return await update(moment, {"$inc": inc} if inc else {})


async def mirror_achievement(user_id: PydanticObjectId, code: str) -> None:
    """Mirrors an earned badge into progress so later checks skip it without a read
    (idempotent)."""
    await Progress.get_pymongo_collection().update_one(
        {"user_id": user_id}, {"$addToSet": {"achievements": code}}
    )


async def advance_streak(
    moment: Moment, progress: Progress
) -> tuple[Progress, streaks.StreakStep] | None:
    """Applies today's streak step with a compare-and-set on the state it was computed
    from; a concurrent writer that moved the streak first makes us recompute (usually to
    "same day, nothing to do"). Returns the progress after the step and the step (whose
    milestone the caller awards), or None if there was none."""
    state = progress.streak
    days = list(progress.days)
    collection = Progress.get_pymongo_collection()
    for _ in range(_STREAK_TRIES):
        step = streaks.step(state, day=moment.day, timezone=moment.timezone, at=moment.at)
        if step is None:
            return None
        set_: dict[str, Any] = {
            "streak.last_active_day": step.day.isoformat(),
            "streak.last_extended_at": moment.at,
            "streak.timezone": moment.timezone,
            "updated_at": utcnow(),
        }
        inc: dict[str, int] = {}
        if step.kind in ("start", "restart"):
            set_["streak.current"] = 1
            set_["streak.started_day"] = step.day.isoformat()
        else:
            inc["streak.current"] = 1
        if step.freezes != state.freezes:
            inc["streak.freezes"] = step.freezes - state.freezes
        change: dict[str, Any] = {"$set": set_, "$max": {"streak.longest": step.current}}
        if inc:
            change["$inc"] = inc
        cutoff = (moment.day - timedelta(days=DAYS_KEPT)).isoformat()
        stale = [d for d in days if d < cutoff]
        if stale:
            change["$unset"] = {f"days.{d}": "" for d in stale}
        raw = await collection.find_one_and_update(
            {
                "user_id": moment.user_id,
                "streak.last_active_day": state.last_active_day,
                "streak.current": state.current,
                "streak.freezes": state.freezes,
            },
            change,
            return_document=ReturnDocument.AFTER,
        )
        if raw is not None:
            return Progress.model_validate(raw), step
        current = await find(moment.user_id)
        if current is None:
            return None
        state, days = current.streak, list(current.days)
    log.warning("streak update kept losing races", extra={"user_id": str(moment.user_id)})
    return None
