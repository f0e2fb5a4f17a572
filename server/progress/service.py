"""XP, streaks and achievements: a ledger first, then atomic totals (docs/PROGRESS.md).

Every award inserts an `XpEvent` whose unique (user, source, source_id) key is the idempotency
key, and only the insert's winner `$inc`s the `Progress` totals: a duplicate key means "already
awarded". The chat award within the daily cap is the one exception, folded into the message's
count (one compare-and-set on the day's counter hands out each slot once, so its ledger insert
follows; issue 20). Streaks move by conditional updates that name the state they were computed from;
achievements unlock by inserting a `UserAchievement` under a unique index. Nothing reads a
counter, changes it and writes it back, so concurrent events on any number of instances never
lose or double an award.

This is the writing side and the progress feature's own reads. The learner's dashboard and a
mentor's group view, which add other features' data, are read models in `server.dashboards`.
Other features reach the ledger through the module-level functions at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from beanie import PydanticObjectId
from beanie.odm.utils.dump import get_dict
from pymongo import InsertOne
from pymongo.errors import DuplicateKeyError

from models import Message, Progress, User, UserAchievement, XpEvent
from models.common import utcnow
from server.events import AchievementUnlocked, ServerEvent, XpGained
from server.mongo import GroupCommit
from server.progress import catalog_store, levels, store, summary
from server.progress.catalog import AchievementSpec, Catalog
from server.progress.hooks import Notifier, WeeklyBoard
from server.progress.schemas import AchievementList, AchievementPublic, ProgressSummary
from server.progress.store import Moment
from server.progress.weeks import iso_week
from server.seeding import SyncResult

log = logging.getLogger("starguide.progress")

CHAT_XP: Final = 2  # per learner message, for the first `chat_xp_daily_messages` of a day
DAILY_GOAL_XP_REWARD: Final = 10
# XP from these sources counts toward the daily goal; rewards (goal, milestones, badges) do not.
GOAL_SOURCES: Final = frozenset({"chat", "quiz"})
DAYS_KEPT: Final = store.DAYS_KEPT
_CLOSE_SECONDS: Final = 5.0
_DUPLICATE_KEY: Final = 11000
_ledger_writes = GroupCommit(XpEvent.get_pymongo_collection)


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
class XpStanding:
    """A learner's total XP and the level it gives, as stored now."""

    xp_total: int
    level: int


class ProgressService:
    def __init__(
        self,
        *,
        catalog: Catalog,
        notifier: Notifier | None = None,
        leaderboards: WeeklyBoard | None = None,
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
        """Upserts the catalog at start-up, then adopts the stored catalog (see
        `catalog_store.sync_catalog`). Returns what the upsert created and changed."""
        self.catalog, result = await catalog_store.sync_catalog(self.catalog)
        return result

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
        moment = Moment.of(user, at or utcnow())
        day = moment.day.isoformat()
        counts = {"chat_messages": 1, f"days.{day}.messages": 1}
        if await self._count_with_xp(moment, counts):
            return
        progress = await store.touch(moment, inc=counts)
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
        moment = Moment.of(user, at or utcnow())
        progress = await store.touch(moment, inc={k: v for k, v in (counts or {}).items() if v})
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
        return await self._award(Moment.of(user, at or utcnow()), amount, source, source_id)

    async def check_achievements(self, *, user: User, at: datetime | None = None) -> None:
        """Unlocks whatever the stored progress already qualifies for (e.g. after the catalog
        gained an entry)."""
        assert user.id is not None
        progress = await store.find(user.id)
        if progress is not None:
            await self._check_achievements(Moment.of(user, at or utcnow()), progress)

    async def _count_with_xp(self, moment: Moment, counts: dict[str, int]) -> bool:
        """The common case in one update: the message counted and its chat XP added together,
        when today's count is under the cap (the update's filter, so it is a compare-and-set:
        the slot it yields is ours alone and within the cap). Then the ledger event records
        the award. False: over the cap or no progress yet; the caller takes the general path.
        """
        if self._chat_cap < 1:
            return False
        day = moment.day.isoformat()
        increments = self._increments(moment, CHAT_XP, "chat")
        progress = await store.count_under_cap(moment, inc=counts | increments, cap=self._chat_cap)
        if progress is None:
            return False
        counters = progress.days.get(day)
        source_id = f"{day}:{counters.messages if counters else 1}"
        take_back = {"$inc": {k: -v for k, v in increments.items()}}
        try:
            recorded = await self._ledger(moment, CHAT_XP, "chat", source_id)
        except Exception:
            # No ledger event, no XP: the totals never hold an award the ledger lacks.
            await store.update(moment, take_back)
            raise
        if not recorded:
            # Only if the day's counter went backwards: never count the slot's XP twice.
            await store.update(moment, take_back)
            return True
        progress = await self._advance_streak(moment, progress) or progress
        await self._awarded(moment, CHAT_XP, "chat", source_id, progress)
        return True

    # ---- writes -------------------------------------------------------------------------
    def _increments(self, moment: Moment, amount: int, source: str) -> dict[str, int]:
        """The totals an award of `amount` from `source` adds."""
        day, week = moment.day.isoformat(), iso_week(moment.day)
        increments = {"xp_total": amount, f"xp_by_week.{week}": amount, f"days.{day}.xp": amount}
        if source in GOAL_SOURCES:
            increments[f"days.{day}.goal_xp"] = amount
        return increments

    async def _ledger(self, moment: Moment, amount: int, source: str, source_id: str) -> bool:
        """The award's ledger event; False: (user, source, source_id) was awarded before."""
        event = XpEvent(
            user_id=moment.user_id,
            org_id=moment.user.org_id,
            amount=amount,
            source=source,
            source_id=source_id,
            local_day=moment.day.isoformat(),
            week=iso_week(moment.day),
        )
        # Inserted with the other awards of the moment in one command (`GroupCommit`); the
        # unique (user, source, source_id) index still refuses a second award.
        (code,) = await _ledger_writes.submit([InsertOne(get_dict(event, to_db=True))])
        if code == _DUPLICATE_KEY:
            return False
        if code is not None:
            raise RuntimeError(f"the XP ledger insert failed with code {code}")
        return True

    async def _award(
        self,
        moment: Moment,
        amount: int,
        source: str,
        source_id: str,
        *,
        inc: Mapping[str, int] | None = None,
        set_: Mapping[str, Any] | None = None,
    ) -> Award | None:
        """The ledger event first; only its inserter increments the totals (with `inc` and
        `set_` riding along), then notifies and checks what the new totals unlock."""
        if not await self._ledger(moment, amount, source, source_id):
            return None
        increments = self._increments(moment, amount, source)
        increments.update(inc or {})
        update: dict[str, Any] = {"$inc": increments}
        if set_:
            update["$set"] = dict(set_)
        progress = await store.update(moment, update)
        return await self._awarded(moment, amount, source, source_id, progress)

    async def _awarded(
        self, moment: Moment, amount: int, source: str, source_id: str, progress: Progress
    ) -> Award:
        """What follows an award written into `progress`: the weekly board, the learner's
        `xp:gained`, then the daily goal and achievements."""
        week = iso_week(moment.day)
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
            XpGained(amount=amount, source=source, xp_total=progress.xp_total, level=level),
        )
        await self._after_change(moment, progress)
        return Award(amount, source, source_id, moment.day.isoformat(), progress.xp_total, level)

    async def _after_change(self, moment: Moment, progress: Progress) -> None:
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

    async def _advance_streak(self, moment: Moment, progress: Progress) -> Progress | None:
        """Today's streak step (a compare-and-set in `store.advance_streak`), then its
        milestone XP, once per run. Returns the progress after the step, or None if none."""
        stepped = await store.advance_streak(moment, progress)
        if stepped is None:
            return None
        after, step = stepped
        if step.milestone_xp:
            key = f"{step.started_day.isoformat()}:{step.current}"
            await self._award(moment, step.milestone_xp, "streak_milestone", key)
        return after

    async def _check_achievements(self, moment: Moment, progress: Progress) -> None:
        for spec in self.catalog.unlockable(store.metrics(progress), earned=progress.achievements):
            await self._unlock(moment, spec)

    async def _unlock(self, moment: Moment, spec: AchievementSpec) -> bool:
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
        await store.mirror_achievement(moment.user_id, spec.code)
        if not won:
            return False
        await self._notify(
            moment.user_id,
            AchievementUnlocked.of(
                code=spec.code,
                name=spec.name,
                tier=spec.tier,
                xp_reward=spec.xp_reward,
                earned_at=earned.earned_at,
            ),
        )
        if spec.xp_reward:
            await self._award(moment, spec.xp_reward, "achievement", spec.code)
        return True

    async def _notify(self, user_id: PydanticObjectId, event: ServerEvent) -> None:
        """Live events go out after the write; a failed emit never undoes or fails it."""
        if self._notifier is None:
            return
        try:
            await self._notifier.to_user(str(user_id), event)
        except Exception:
            log.exception("progress notification failed", extra={"event": event.name})

    # ---- reads --------------------------------------------------------------------------
    async def summary_for(self, *, user: User, now: datetime | None = None) -> ProgressSummary:
        return (await self.summaries_of([user], now=now))[0]

    async def summaries_of(
        self, users: Sequence[User], *, now: datetime | None = None
    ) -> list[ProgressSummary]:
        """XP, level, streak and daily goal of several learners (one read of their totals)."""
        return await summary.summaries_of(
            users, now=now or utcnow(), daily_goal_xp=self._daily_goal_xp
        )

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

    async def xp_standing(self, *, user_id: PydanticObjectId) -> XpStanding:
        """The stored total and its level (a quiz answer reports them after its award)."""
        progress = await store.find(user_id)
        xp_total = progress.xp_total if progress is not None else 0
        return XpStanding(xp_total=xp_total, level=levels.level_for_xp(xp_total))

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


# ---- the ledger, for other features ---------------------------------------------------------
async def weekly_totals(
    *,
    org_id: PydanticObjectId,
    week: str,
    user_ids: Collection[PydanticObjectId] | None = None,
) -> list[tuple[str, int]]:
    """(user id, XP) summed from the ledger for one organization's ISO week, optionally only
    some learners (served by the `org_week_user` index): what the leaderboards rebuild from
    and fall back to without Redis."""
    match: dict[str, Any] = {"org_id": org_id, "week": week}
    if user_ids is not None:
        match["user_id"] = {"$in": list(user_ids)}
    rows = await XpEvent.get_pymongo_collection().aggregate(
        [{"$match": match}, {"$group": {"_id": "$user_id", "xp": {"$sum": "$amount"}}}]
    )
    return [(str(row["_id"]), int(row["xp"])) async for row in rows]


async def award_counts(*, user_ids: Collection[PydanticObjectId]) -> tuple[int, int]:
    """How many XP awards and earned achievements these learners have: a script compares
    them before and after a run to report what it awarded (`seed --demo`)."""
    if not user_ids:
        return 0, 0
    match = {"user_id": {"$in": list(user_ids)}}
    xp = await XpEvent.get_pymongo_collection().count_documents(match)
    earned = await UserAchievement.get_pymongo_collection().count_documents(match)
    return xp, earned
