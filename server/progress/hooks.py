"""What the progress service tells the rest of the system, typed by what it needs.

Progress sits below the socket gateway and the leaderboards, so it imports neither: the
composition root (`server.app`) hands it objects that satisfy these protocols. That keeps the
dependency one-way (leaderboard → progress for the ledger; progress → these protocols only).
"""

from __future__ import annotations

from typing import Protocol

from beanie import PydanticObjectId

from server.events import ServerEvent


class Notifier(Protocol):
    """Live events to one user's sockets on every instance (the socket gateway)."""

    async def to_user(self, user_id: str, event: ServerEvent) -> None: ...


class WeeklyBoard(Protocol):
    """Takes the learner's weekly XP total as an award just wrote it (the leaderboards)."""

    async def record(
        self, *, org_id: PydanticObjectId, user_id: PydanticObjectId, week: str, week_xp: int
    ) -> None: ...
