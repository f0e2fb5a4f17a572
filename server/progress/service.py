"""XP, streaks and achievements: a ledger first, then atomic totals (docs/PROGRESS.md).

Every award inserts an `XpEvent` whose unique (user, source, source_id) key is the idempotency
key, and only the insert's winner `$inc`s the `Progress` totals: a duplicate key means "already
awarded". Streaks move by conditional updates that name the state they were computed from;
achievements unlock by inserting a `UserAchievement` under a unique index. Nothing reads a
counter, changes it and writes it back, so concurrent events on any number of instances never
lose or double an award.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from beanie import PydanticObjectId
from pydantic import ValidationError
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from models import (
    Achievement,
    Message,
    Progress,
    User,
    UserAchievement,
    XpEvent,
)
from models.achievement import Metric
from models.common import utcnow
from server.chat.limits import local_day
from server.memory import service as memory
from server.mongo import upsert
from server.progress import levels, streaks
from server.progress.catalog import AchievementSpec, Catalog
from server.progress.schemas import (
    AchievementList,
    AchievementPublic,
    DailyGoalPublic,
    ProgressPublic,
    StreakPublic,
)
from server.progress.weeks import iso_week
from server.quiz import service as quiz
from server.quiz.bank import SyncResult

if TYPE_CHECKING:
    from server.leaderboard.service import Leaderboards
    from server.state import Notifier

log = logging.getLogger("starguide.progress")

CHAT_XP: Final = 2  # per learner message, for the first `chat_xp_daily_messages` of a day
DAILY_GOAL_XP_REWARD: Final = 10
# XP from these sources counts toward the daily goal; rewards (goal, milestones, badges) do not.
GOAL_SOURCES: Final = frozenset({"chat", "quiz"})
# Per-day counters older than this are dropped when the streak moves on to a new day.
DAYS_KEPT: Final = 35
_STREAK_TRIES: Final = 8
_CLOSE_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class Award:
    """An award that was made (None stands for "already awarded")."""

    amount: int
    source: str
    source_id: str
    local_day: str
    xp_total: int
    level: int


@dataclass(frozen=True, slots=True)
class _Moment:
    """Who did something and when, with the local day fixed once for everything it causes."""

    user: User
    user_id: PydanticObjectId
    at: datetime
    day: date
    timezone: str

    @classmethod
    def of(cls, user: User, at: datetime) -> _Moment:
        assert user.id is not None
        return cls(user, user.id, at, local_day(user, at), user.profile.timezone)


def _metrics(progress: Progress) -> dict[Metric, int]:
    return {
        "xp_total": progress.xp_total,
        "level": levels.level_for_xp(progress.xp_total),
        "streak_current": progress.streak.current,
        "chat_messages": progress.chat_messages,
        "daily_goals": progress.daily_goals,
        "quiz_correct": progress.quiz_correct,
        "topics_mastered": progress.topics_mastered,
    }


class ProgressService:
    def __init__(
        self,
        *,
        catalog: Catalog,
        notifier: Notifier | None = None,
        leaderboards: Leaderboards | None = None,
        daily_goal_xp: int = 10,
        chat_xp_daily_messages: int = 20,
    ) -> None:
        self.catalog = catalog
        self._notifier = notifier
        self._leaderboards = leaderboards
        self._daily_goal_xp = daily_goal_xp
        self._chat_cap = chat_xp_daily_messages
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- the catalog --------------------------------------------------------------------
    async def sync_catalog(self) -> SyncResult:
        """Upserts the catalog at start-up (idempotent: a second run changes nothing), then
        adopts the stored catalog, so entries added to the collection by a later seed count.
        Returns what the upsert created and changed (`scripts/seed.py` reports it)."""
        total, created, updated = len(self.catalog), 0, 0
        if total:
            operations = [
                UpdateOne(
                    {"code": spec.code},
                    {
                        "$set": {**spec.model_dump(mode="json"), "position": position},
                        "$setOnInsert": {"created_at": utcnow()},
                    },
                    upsert=True,
                )
                for position, spec in enumerate(self.catalog)
            ]
            collection = Achievement.get_pymongo_collection()
            try:
                result = await collection.bulk_write(operations, ordered=False)
                created, updated = result.upserted_count, result.modified_count
            except BulkWriteError as exc:  # two instances starting together
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != 11000 for e in errors):
                    raise
                retried = await collection.bulk_write([operations[e["index"]] for e in errors])
                created = int(exc.details.get("nUpserted", 0))
                updated = int(exc.details.get("nModified", 0)) + retried.modified_count
        specs: list[AchievementSpec] = []
        cursor = Achievement.get_pymongo_collection().find({}, sort=[("position", 1), ("code", 1)])
        async for raw in cursor:
            try:
                specs.append(AchievementSpec.model_validate(raw))
            except ValidationError:
                # E.g. a metric that only a newer version evaluates (a rolling deploy).
                log.warning(
                    "skipping an achievement this version cannot evaluate",
                    extra={"code": raw.get("code")},
                )
        self.catalog = Catalog(specs)
        return SyncResult(created=created, updated=updated, unchanged=total - created - updated)

    # ---- events -------------------------------------------------------------------------
    def schedule_learner_message(self, message: Message, author: User) -> None:
        """The chat service's stored-message listener: XP and streak work runs as a task, so
        it never delays or fails the chat; failures are logged."""
        task = asyncio.create_task(self._guarded(message, author), name="progress:message")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, message: Message, author: User) -> None:
        try:
            await self.on_learner_message(message, author)
        except Exception:
            log.exception("progress update failed", extra={"message_id": str(message.id)})

    async def on_learner_message(self, message: Message, author: User) -> None:
        """A stored learner message: activity for the streak, and chat XP within the cap.
        `author` is the sender as the chat service loaded it for the request."""
        if message.role != "user" or author.id != message.author_id or author.disabled:
            return
        await self.record_chat_message(user=author, at=message.created_at)

    async def record_chat_message(self, *, user: User, at: datetime | None = None) -> None:
        """Counts the message, then awards chat XP in slot n of the day (source_id
        "<day>:<n>"). n comes from one atomic `$inc`, so no two messages share a slot and slots
        beyond the cap are never awarded, however many messages race."""
        moment = _Moment.of(user, at or utcnow())
        day = moment.day.isoformat()
        progress = await self._touch(moment, inc={"chat_messages": 1, f"days.{day}.messages": 1})
        counters = progress.days.get(day)
        slot = counters.messages if counters else 1
        progress = await self._advance_streak(moment, progress) or progress
        if slot <= self._chat_cap and await self._award(moment, CHAT_XP, "chat", f"{day}:{slot}"):
            return  # the award has checked the daily goal and achievements
        await self._after_change(moment, progress)

    async def record_activity(
        self,
        *,
        user: User,
        at: datetime | None = None,
        counts: Mapping[Literal["quiz_correct", "topics_mastered"], int] | None = None,
    ) -> None:
        """Any other learning activity (a quiz answer): counts for the streak, and `counts`
        are `$inc`ed into the badge counters. The caller makes them once-only (quizzes: the
        mastery compare-and-set that applied the answer)."""
        moment = _Moment.of(user, at or utcnow())
        progress = await self._touch(moment, inc={k: v for k, v in (counts or {}).items() if v})
        await self._after_change(moment, await self._advance_streak(moment, progress) or progress)

    async def award(
        self,
        *,
        user: User,
        amount: int,
        source: str,
        source_id: str,
        at: datetime | None = None,
    ) -> Award | None:
        """Awards `amount` XP once per (user, source, source_id); None if already awarded.
        Quiz answers call this with source "quiz" and the attempt's id."""
        return await self._award(_Moment.of(user, at or utcnow()), amount, source, source_id)

    async def check_achievements(self, *, user: User, at: datetime | None = None) -> None:
        """Unlocks whatever the stored progress already qualifies for (e.g. after the catalog
        gained an entry)."""
        progress = await Progress.find_one({"user_id": user.id})
        if progress is not None:
            await self._check_achievements(_Moment.of(user, at or utcnow()), progress)

    # ---- writes -------------------------------------------------------------------------
    async def _update(self, moment: _Moment, update: dict[str, Any]) -> Progress:
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
        raw = await collection.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
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

    async def _touch(self, moment: _Moment, *, inc: dict[str, int]) -> Progress:
        return await self._update(moment, {"$inc": inc} if inc else {})

    async def _award(
        self,
        moment: _Moment,
        amount: int,
        source: str,
        source_id: str,
        *,
        inc: Mapping[str, int] | None = None,
        set_: Mapping[str, Any] | None = None,
    ) -> Award | None:
        """The ledger event first; only its inserter increments the totals (with `inc` and
        `set_` riding along), then notifies and checks what the new totals unlock."""
        day = moment.day.isoformat()
        week = iso_week(moment.day)
        event = XpEvent(
            user_id=moment.user_id,
            org_id=moment.user.org_id,
            amount=amount,
            source=source,
            source_id=source_id,
            local_day=day,
            week=week,
        )
        try:
            await event.insert()
        except DuplicateKeyError:
            return None
        increments: dict[str, int] = {
            "xp_total": amount,
            f"xp_by_week.{week}": amount,
            f"days.{day}.xp": amount,
        }
        if source in GOAL_SOURCES:
            increments[f"days.{day}.goal_xp"] = amount
        increments.update(inc or {})
        update: dict[str, Any] = {"$inc": increments}
        if set_:
            update["$set"] = dict(set_)
        progress = await self._update(moment, update)
        if self._leaderboards is not None:
            # The weekly total as this `$inc` wrote it: the board keeps the highest it has seen.
            await self._leaderboards.record(
                org_id=moment.user.org_id,
                user_id=moment.user_id,
                week=week,
                week_xp=progress.xp_by_week.get(week, 0),
            )
        level = levels.level_for_xp(progress.xp_total)
        await self._notify(
            moment.user_id,
            "xp:gained",
            {"amount": amount, "source": source, "xp_total": progress.xp_total, "level": level},
        )
        await self._after_change(moment, progress)
        return Award(amount, source, source_id, day, progress.xp_total, level)

    async def _after_change(self, moment: _Moment, progress: Progress) -> None:
        """The daily goal, then achievements, against totals just written."""
        day = moment.day.isoformat()
        counters = progress.days.get(day)
        if (
            counters is not None
            and counters.goal_xp >= self._daily_goal_xp
            and not counters.goal_met
        ):
            # Once per local day: the day is the key. Only the winner counts it in daily_goals.
            if await self._award(
                moment,
                DAILY_GOAL_XP_REWARD,
                "daily_goal",
                day,
                inc={"daily_goals": 1},
                set_={f"days.{day}.goal_met": True},
            ):
                return  # that award checked achievements against newer totals
        await self._check_achievements(moment, progress)

    async def _advance_streak(self, moment: _Moment, progress: Progress) -> Progress | None:
        """Applies today's streak step with a compare-and-set on the state it was computed
        from; a concurrent writer that moved the streak first makes us recompute (usually to
        "same day, nothing to do"). Returns the progress after the step, or None if none."""
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
            update: dict[str, Any] = {"$set": set_, "$max": {"streak.longest": step.current}}
            if inc:
                update["$inc"] = inc
            cutoff = (moment.day - timedelta(days=DAYS_KEPT)).isoformat()
            stale = [d for d in days if d < cutoff]
            if stale:
                update["$unset"] = {f"days.{d}": "" for d in stale}
            raw = await collection.find_one_and_update(
                {
                    "user_id": moment.user_id,
                    "streak.last_active_day": state.last_active_day,
                    "streak.current": state.current,
                    "streak.freezes": state.freezes,
                },
                update,
                return_document=ReturnDocument.AFTER,
            )
            if raw is not None:
                after = Progress.model_validate(raw)
                if step.milestone_xp:
                    key = f"{step.started_day.isoformat()}:{step.current}"
                    await self._award(moment, step.milestone_xp, "streak_milestone", key)
                return after
            current = await Progress.find_one({"user_id": moment.user_id})
            if current is None:
                return None
            state, days = current.streak, list(current.days)
        log.warning("streak update kept losing races", extra={"user_id": str(moment.user_id)})
        return None

    async def _check_achievements(self, moment: _Moment, progress: Progress) -> None:
        for spec in self.catalog.unlockable(_metrics(progress), earned=progress.achievements):
            await self._unlock(moment, spec)

    async def _unlock(self, moment: _Moment, spec: AchievementSpec) -> bool:
        """Exactly once: the unique (user_id, code) index picks one winner among racing
        unlocks; only the winner notifies and awards the badge's XP."""
        earned = UserAchievement(
            user_id=moment.user_id, org_id=moment.user.org_id, code=spec.code, earned_at=utcnow()
        )
        won = True
        try:
            await earned.insert()
        except DuplicateKeyError:
            won = False
        # Mirrored into progress so later checks skip it without a read (idempotent).
        await Progress.get_pymongo_collection().update_one(
            {"user_id": moment.user_id}, {"$addToSet": {"achievements": spec.code}}
        )
        if not won:
            return False
        await self._notify(
            moment.user_id,
            "achievement:unlocked",
            {
                "code": spec.code,
                "name": spec.name,
                "tier": spec.tier,
                "xp_reward": spec.xp_reward,
                "earned_at": earned.earned_at.isoformat(),
            },
        )
        if spec.xp_reward:
            await self._award(moment, spec.xp_reward, "achievement", spec.code)
        return True

    async def _notify(self, user_id: PydanticObjectId, event: str, data: dict[str, Any]) -> None:
        """Live events go out after the write; a failed emit never undoes or fails it."""
        if self._notifier is None:
            return
        try:
            await self._notifier.to_user(str(user_id), event, data)
        except Exception:
            log.exception("progress notification failed", extra={"event": event})

    # ---- reads --------------------------------------------------------------------------
    async def progress_for(self, *, user: User, now: datetime | None = None) -> ProgressPublic:
        return (await self.progress_of([user], now=now))[0]

    async def progress_of(
        self, users: Sequence[User], *, now: datetime | None = None
    ) -> list[ProgressPublic]:
        """Several learners' progress (a mentor's group view) with one read of their totals;
        the per-learner lists (weak topics, topic mastery, reviews due) run concurrently."""
        now = now or utcnow()
        ids = [u.id for u in users if u.id is not None]
        stored = {p.user_id: p for p in await Progress.find({"user_id": {"$in": ids}}).to_list()}
        weak, topics, due = await asyncio.gather(
            asyncio.gather(*(memory.weak_topics(u.id, now=now) for u in users)),
            asyncio.gather(*(quiz.topics_for(i) for i in ids)),
            asyncio.gather(*(quiz.reviews_due(i, now) for i in ids)),
        )
        views = []
        for user, weak_topics, mastered, reviews in zip(users, weak, topics, due, strict=True):
            assert user.id is not None
            progress = stored.get(user.id) or Progress(user_id=user.id)
            today = local_day(user, now)
            counters = progress.days.get(today.isoformat())
            xp = progress.xp_total
            level = levels.level_for_xp(xp)
            views.append(
                ProgressPublic(
                    xp=xp,
                    level=level,
                    level_xp=levels.xp_for_level(level),
                    next_level_xp=levels.xp_for_level(level + 1),
                    xp_this_week=progress.xp_by_week.get(iso_week(today), 0),
                    streak=StreakPublic(
                        current=streaks.shown_current(
                            progress.streak, today=today, timezone=user.profile.timezone, at=now
                        ),
                        longest=progress.streak.longest,
                        last_active_day=progress.streak.last_active_day,
                        freezes=progress.streak.freezes,
                    ),
                    daily_goal=DailyGoalPublic(
                        target_xp=self._daily_goal_xp,
                        xp_today=counters.goal_xp if counters else 0,
                        met=bool(counters and counters.goal_met),
                    ),
                    topics=mastered,
                    weak_topics=weak_topics,
                    reviews_due=reviews,
                )
            )
        return views

    async def achievements_for(self, *, user: User) -> AchievementList:
        earned = {
            a.code: a.earned_at for a in await UserAchievement.find({"user_id": user.id}).to_list()
        }
        return AchievementList(
            items=[
                AchievementPublic(
                    code=spec.code,
                    name=spec.name,
                    description=spec.description,
                    tier=spec.tier,
                    xp_reward=spec.xp_reward,
                    criteria=spec.criteria,
                    image=spec.image,
                    earned_at=earned.get(spec.code),
                )
                for spec in self.catalog
            ]
        )

    async def ledger_total(self, *, user_id: PydanticObjectId) -> int:
        """The learner's XP summed from the ledger: what `xp_total` must equal."""
        rows = await XpEvent.get_pymongo_collection().aggregate(
            [{"$match": {"user_id": user_id}}, {"$group": {"_id": None, "xp": {"$sum": "$amount"}}}]
        )
        async for row in rows:
            return int(row["xp"])
        return 0

    # ---- lifecycle ----------------------------------------------------------------------
    async def drain(self) -> None:
        """Waits for the scheduled message tasks (tests, and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def settle(self, *, grace_s: float) -> None:
        """Waits up to `grace_s` for the message tasks running now, cancelling none (an
        erasure lets a just-sent message's update land before deleting what it writes)."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)

    async def aclose(self) -> None:
        """Lets running updates finish briefly, then cancels what is left."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), _CLOSE_SECONDS)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
