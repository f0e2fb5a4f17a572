"""Shapes of the privacy feature: what an erasure reports (the export is a plain document)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErasureReport(BaseModel):
    """What an erasure did, as counts only: it goes into the audit entry, so it must never
    hold content, an email or anything else that would bring the person back."""

    user_id: str
    # Documents deleted, by collection.
    deleted: dict[str, int] = Field(default_factory=dict)
    # Documents kept but changed so they no longer name the user: memberships pulled, AI usage
    # re-keyed to a pseudonym, study groups handed to another member.
    updated: dict[str, int] = Field(default_factory=dict)
    # Redis entries removed: leaderboard entries, replay streams, presence entries.
    redis: dict[str, int] = Field(default_factory=dict)

    def add(self, section: str, name: str, count: int) -> None:
        if count:
            bucket: dict[str, int] = getattr(self, section)
            bucket[name] = bucket.get(name, 0) + count
