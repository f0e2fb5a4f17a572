"""Reads of `mock_tests` shared by the tests' service and the assignments (which count a
submitted test started for an assignment as done)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from models import Assignment, MockTest


@dataclass(frozen=True, slots=True)
class SubmittedTest:
    test_id: PydanticObjectId
    submitted_at: datetime


async def submitted_for_assignment(
    *, assignment: Assignment, user_ids: Collection[PydanticObjectId]
) -> dict[PydanticObjectId, SubmittedTest]:
    """Each learner's first submitted test for the assignment: one started for it (index
    assignment_user), or one that fits it without naming it (index user_recent): started
    since the assignment was set, for no other assignment, of its exam when it has one and
    asking one of its topics when it has some. The contract's clients know nothing of
    `assignment_id`: they take the test the mentor asked for, and that counts."""
    fits: dict[str, Any] = {"assignment_id": None, "created_at": {"$gte": assignment.created_at}}
    if assignment.exam:
        fits["exam"] = assignment.exam
    if assignment.topic_ids:
        fits["items.topic_id"] = {"$in": list(assignment.topic_ids)}
    cursor = (
        MockTest.get_pymongo_collection()
        .find(
            {
                "user_id": {"$in": list(user_ids)},
                "status": "submitted",
                "$or": [{"assignment_id": assignment.id}, fits],
            },
            projection={"user_id": 1, "submitted_at": 1},
        )
        .sort("submitted_at", 1)
    )
    found: dict[PydanticObjectId, SubmittedTest] = {}
    async for raw in cursor:
        found.setdefault(
            PydanticObjectId(raw["user_id"]),
            SubmittedTest(PydanticObjectId(raw["_id"]), raw["submitted_at"]),
        )
    return found
