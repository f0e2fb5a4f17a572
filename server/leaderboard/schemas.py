"""API shapes of the leaderboard (the contract's `leaderboard`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

Scope = Literal["org", "group"]
Period = Literal["week"]


def _existing_week(value: str) -> str:
    """Only weeks that exist: `W01` to the year's last ISO week (52 or 53). A pattern alone
    let `2024-W99` and non-ASCII digits through to an empty 200 board (issue 14)."""
    year, week = int(value[:4]), int(value[6:])
    last = date(year, 12, 28).isocalendar()[1]  # 28 December always lies in the last week
    if not 1 <= week <= last:
        raise ValueError(f"{value} is not a week: {year} has weeks W01 to W{last:02d}")
    return value


# ASCII digits only: `\d` would also accept other scripts' digits ("२०२४").
IsoWeek = Annotated[str, Field(pattern=r"^[0-9]{4}-W[0-9]{2}$"), AfterValidator(_existing_week)]


class EntryPublic(BaseModel):
    rank: int = Field(description="Competition rank: equal XP, equal rank (1, 2, 2, 4).")
    user_id: str
    display_name: str
    xp: int = Field(description="XP earned in the week.")


class MyStanding(BaseModel):
    rank: int = Field(description="The caller's rank, also when outside the listed top.")
    xp: int


class LeaderboardPublic(BaseModel):
    scope: Scope
    period: Period
    week: str = Field(description="The ISO week shown, in the caller's local calendar.")
    group_id: str | None = Field(default=None, description="Set when scope is group.")
    items: list[EntryPublic]
    me: MyStanding
