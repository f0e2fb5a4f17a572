"""API shapes of the leaderboard (the contract's `leaderboard`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Scope = Literal["org", "group"]
Period = Literal["week"]


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
