"""What an idempotent seed step did: shared by the features that seed their own collections
(quiz: questions and topics; progress: the achievements catalog) and by `scripts/seed.py`,
which reports it. A module of its own so that no feature imports another for a tally."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SyncResult:
    created: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged
