"""Shared pieces of the practice tests: users with roles, tests through the API, and direct
looks at the stored test (its answer key never leaves the server before the end)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from models import MockTest, User
from models.common import utcnow
from tests.conftest import Api

BASE = "/api/v1"


async def set_role(user: dict[str, Any], role: str) -> None:
    await User.find_one(User.id == PydanticObjectId(user["user"]["id"])).update(
        {"$set": {"role": role}}
    )


async def start_test(api: Api, who: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = await api.client.post(
        f"{BASE}/tests", json={"exam": "JEE", **body}, headers=who["auth"]
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def question_ids(test: dict[str, Any]) -> list[str]:
    return [q["id"] for s in test["sections"] for q in s["questions"]]


async def stored(test_id: str) -> MockTest:
    found = await MockTest.get(PydanticObjectId(test_id))
    assert found is not None
    return found


async def answer_key(test_id: str) -> dict[str, int]:
    return {str(i.question_id): i.answer for i in (await stored(test_id)).items}


async def move_end(test_id: str, ends_at: datetime) -> None:
    """Time passes: the test's end moves to `ends_at` (tests cannot wait three hours)."""
    await MockTest.get_pymongo_collection().update_one(
        {"_id": PydanticObjectId(test_id)}, {"$set": {"ends_at": ends_at}}
    )


async def expire(test_id: str, *, ago: float = 60) -> None:
    await move_end(test_id, utcnow() - timedelta(seconds=ago))


async def save(
    api: Api, who: dict[str, Any], test_id: str, qid: str, option: int | None, ms: int = 1000
) -> Any:
    return await api.client.put(
        f"{BASE}/tests/{test_id}/answers/{qid}",
        json={"option": option, "time_spent_ms": ms},
        headers=who["auth"],
    )
