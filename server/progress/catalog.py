"""The achievements catalog: data in `data/achievements.json`, evaluated against progress."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from importlib.resources import files

from pydantic import BaseModel, Field

from models import AchievementCriteria
from models.achievement import Metric, Tier


class AchievementSpec(BaseModel):
    """One catalog entry as the JSON file and the `achievements` collection hold it."""

    code: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    name: str
    description: str
    criteria: AchievementCriteria
    tier: Tier
    xp_reward: int = Field(default=0, ge=0)
    # `/badges/<name>.svg`, which the server draws (server/progress/badges.py), or art hosted
    # elsewhere at an absolute https URL: never a path nothing answers.
    image: str = Field(pattern=r"^(/badges/[a-z0-9_-]{1,64}\.svg|https://\S+)$")


class Catalog:
    """The achievements in display order; codes are unique."""

    def __init__(self, specs: Sequence[AchievementSpec]) -> None:
        codes = [s.code for s in specs]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"duplicate achievement codes: {', '.join(duplicates)}")
        self._specs = tuple(specs)
        self._by_image = {s.image: s for s in self._specs}

    def __iter__(self) -> Iterator[AchievementSpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def with_image(self, path: str) -> AchievementSpec | None:
        """The entry whose `image` is this path (`/badges/...`), if any."""
        return self._by_image.get(path)

    def unlockable(
        self, metrics: Mapping[Metric, int], *, earned: Collection[str]
    ) -> list[AchievementSpec]:
        """Entries whose threshold is met and which the learner does not hold yet."""
        return [
            s
            for s in self._specs
            if s.code not in earned and metrics.get(s.criteria.metric, 0) >= s.criteria.threshold
        ]


def load_catalog() -> Catalog:
    """The catalog shipped with the package (installed as package data)."""
    text = files("server.progress").joinpath("data/achievements.json").read_text("utf-8")
    entries = json.loads(text)["achievements"]
    return Catalog([AchievementSpec.model_validate(e) for e in entries])
