"""Shared pieces of the progress tests: learners straight in the database, a recording notifier."""

from __future__ import annotations

import uuid
from typing import Any

from beanie import PydanticObjectId

from models import AchievementCriteria, Profile, Progress, User, XpEvent
from server.events import ServerEvent
from server.progress.catalog import AchievementSpec, Catalog
from server.progress.service import ProgressService


class Recorder:
    """A notifier that keeps what would have gone to the user's room."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    async def to_user(
        self, user_id: str, event: ServerEvent | str, data: dict[str, Any] | None = None
    ) -> None:
        # A typed event (server/events.py) or, as the gateway once took them, a name and a dict.
        if isinstance(event, ServerEvent):
            self.events.append((user_id, event.name, event.payload()))
        else:
            self.events.append((user_id, event, data or {}))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [data for _, name, data in self.events if name == event]


async def learner(timezone: str = "Asia/Kolkata") -> User:
    user = User(
        email=f"{uuid.uuid4().hex[:10]}@example.com",
        org_id=PydanticObjectId(),
        profile=Profile(display_name="Asha", timezone=timezone),
    )
    await user.insert()
    return user


def spec(code: str, metric: str, threshold: int, xp_reward: int = 0) -> AchievementSpec:
    return AchievementSpec(
        code=code,
        name=code.title(),
        description=f"{metric} >= {threshold}",
        criteria=AchievementCriteria.model_validate(
            {"metric": metric, "threshold": threshold, "narrative": "test"}
        ),
        tier="bronze",
        xp_reward=xp_reward,
        image=f"/badges/{code}.svg",
    )


def service(
    *specs: AchievementSpec, notifier: Recorder | None = None, **options: Any
) -> ProgressService:
    return ProgressService(catalog=Catalog(list(specs)), notifier=notifier, **options)


async def progress_of(user: User) -> Progress:
    found = await Progress.find_one({"user_id": user.id})
    assert found is not None
    return found


async def events_of(user: User, source: str | None = None) -> list[XpEvent]:
    query: dict[str, Any] = {"user_id": user.id}
    if source is not None:
        query["source"] = source
    return await XpEvent.find(query).to_list()
