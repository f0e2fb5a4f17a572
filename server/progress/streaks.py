"""Streak rules in the learner's own time zone; pure, so each rule is testable on its own.

A learner's activity at instant `at` falls on local day D in their IANA zone. Against the stored
state (last counted day L, current run, freezes held):

- no streak yet: current = 1;
- D <= L: the same day, nothing changes (D < L only happens after flying west);
- D = L + 1: current + 1;
- D = L + 2, the zone differs from the one the streak was last extended in, and that was less
  than 48 h ago: current + 1, nothing spent (flying east can swallow a local day);
- D = L + 2 with a freeze held: a freeze is spent, current + 1;
- otherwise: a new run starts, current = 1.

Each time the run reaches a multiple of 7 days a freeze is earned, at most 2 held.
The service applies a step as one conditional update whose filter holds the state it was
computed from, so concurrent activity can never count one day twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal

from models import StreakState

# Streak length -> XP, awarded once per run (the key holds the run's first day).
MILESTONES: Final[dict[int, int]] = {3: 10, 7: 25, 30: 100, 100: 300}
FREEZE_EVERY_DAYS: Final = 7
MAX_FREEZES: Final = 2
TIMEZONE_GRACE: Final = timedelta(hours=48)

StepKind = Literal["start", "next_day", "travel", "freeze", "restart"]


@dataclass(frozen=True, slots=True)
class StreakStep:
    """What one day's activity does to the streak: the state after it."""

    kind: StepKind
    day: date
    current: int
    started_day: date
    freezes: int

    @property
    def milestone_xp(self) -> int:
        return MILESTONES.get(self.current, 0)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _travelled(state: StreakState, *, timezone: str, at: datetime) -> bool:
    """The lenient time-zone rule: a new zone, and the streak was extended less than 48 h ago."""
    return (
        state.timezone is not None
        and state.timezone != timezone
        and state.last_extended_at is not None
        and at - state.last_extended_at < TIMEZONE_GRACE
    )


def step(state: StreakState, *, day: date, timezone: str, at: datetime) -> StreakStep | None:
    """The streak after activity on local `day`, or None when that day is already counted."""
    last = _day(state.last_active_day)
    if last is None:
        return _earn(StreakStep("start", day, 1, day, state.freezes))
    gap = (day - last).days
    if gap <= 0:
        return None
    started = _day(state.started_day) or last - timedelta(days=max(0, state.current - 1))
    if gap == 1:
        return _earn(StreakStep("next_day", day, state.current + 1, started, state.freezes))
    if gap == 2 and _travelled(state, timezone=timezone, at=at):
        return _earn(StreakStep("travel", day, state.current + 1, started, state.freezes))
    if gap == 2 and state.freezes > 0:
        return _earn(StreakStep("freeze", day, state.current + 1, started, state.freezes - 1))
    return _earn(StreakStep("restart", day, 1, day, state.freezes))


def _earn(result: StreakStep) -> StreakStep:
    if result.current % FREEZE_EVERY_DAYS == 0 and result.freezes < MAX_FREEZES:
        return StreakStep(
            result.kind, result.day, result.current, result.started_day, result.freezes + 1
        )
    return result


def shown_current(state: StreakState, *, today: date, timezone: str, at: datetime) -> int:
    """The streak as the learner sees it now: 0 once it can no longer be continued today."""
    last = _day(state.last_active_day)
    if last is None:
        return 0
    gap = (today - last).days
    if gap <= 1:
        return state.current
    if gap == 2 and (state.freezes > 0 or _travelled(state, timezone=timezone, at=at)):
        return state.current
    return 0
