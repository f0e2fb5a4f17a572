from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow

AssignmentKind = Literal["test", "topic"]


class Assignment(Document):
    """Practice a group's mentor set for its members, due by `due_at` (docs/PRACTICE.md).

    Completion is not stored here: it is read from what members did (a submitted test started
    for the assignment; quiz answers on its topics since it was set), so there is nothing to
    keep in step and nothing a member could mark done without doing it.
    """

    org_id: PydanticObjectId
    group_id: PydanticObjectId
    created_by: PydanticObjectId | None  # None once its author's account was erased
    title: str
    kind: AssignmentKind
    exam: str | None = None
    topic_ids: list[str] = Field(default_factory=list)
    questions: int | None = None
    due_at: datetime
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "assignments"
        indexes = [
            # Serves GET /assignments: the assignments of the caller's groups, newest first.
            IndexModel(
                [("group_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                name="group_recent",
            ),
            # Serves erasure of an author (their assignments stay with the group, unsigned).
            IndexModel([("created_by", ASCENDING)], name="created_by"),
        ]
