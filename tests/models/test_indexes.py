"""Indexes the models declare: uniqueness that makes writes race-free, and hot queries served."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from models import (
    AiUsageDay,
    Conversation,
    LearnerTopic,
    Message,
    Organization,
    RefreshToken,
    User,
)
from models.common import utcnow
from models.user import Profile


async def test_declared_indexes_exist(app: Any) -> None:
    messages = await Message.get_pymongo_collection().index_information()
    unique = messages["conversation_client_message_unique"]
    assert unique["unique"] is True
    assert unique["partialFilterExpression"] == {"client_message_id": {"$type": "string"}}
    assert "conversation_recent" in messages
    one_streaming = messages["one_streaming_reply"]
    assert one_streaming["unique"] is True
    assert one_streaming["partialFilterExpression"] == {"status": "streaming"}
    assert {"parent_replies", "streaming_stale"} <= set(messages)
    topics = await LearnerTopic.get_pymongo_collection().index_information()
    assert topics["user_topic_unique"]["unique"] is True and "user_weakest" in topics
    usage = await AiUsageDay.get_pymongo_collection().index_information()
    assert usage["user_day"]["unique"] is True
    tokens = await RefreshToken.get_pymongo_collection().index_information()
    assert tokens["ttl"]["expireAfterSeconds"] == 0
    assert "user_recent" in await Conversation.get_pymongo_collection().index_information()
    users = await User.get_pymongo_collection().index_information()
    assert any(i.get("unique") and i["key"] == [("email", 1)] for i in users.values())
    orgs = await Organization.get_pymongo_collection().index_information()
    assert any(i.get("unique") and i["key"] == [("slug", 1)] for i in orgs.values())
    # Admin lists, the usage report, export and erasure (issue 7).
    assert orgs["recent"]["key"] == [("created_at", -1), ("_id", -1)]
    assert {"recent", "org_role_recent"} <= set(users)
    assert usage["day"]["key"] == [("day", 1)]
    assert messages["author_conversations"]["partialFilterExpression"] == {
        "author_id": {"$type": "objectId"}
    }
    conversations = await Conversation.get_pymongo_collection().index_information()
    assert conversations["members"]["key"] == [("member_ids", 1)]


async def test_concurrent_duplicate_client_message_ids_store_one(app: Any) -> None:
    conversation_id = PydanticObjectId()

    async def insert() -> bool:
        try:
            await Message(
                conversation_id=conversation_id, role="user", content="hi", client_message_id="same"
            ).insert()
            return True
        except DuplicateKeyError:
            return False

    results = await asyncio.gather(*[insert() for _ in range(10)])
    assert results.count(True) == 1
    # Assistant messages carry no client id and are not constrained.
    for _ in range(2):
        await Message(conversation_id=conversation_id, role="assistant", content="a").insert()
    assert await Message.find(Message.conversation_id == conversation_id).count() == 3


async def test_concurrent_signups_with_one_email_create_one_user(app: Any) -> None:
    org_id = PydanticObjectId()

    async def insert() -> bool:
        try:
            await User(
                email="race@example.com", org_id=org_id, profile=Profile(display_name="R")
            ).insert()
            return True
        except DuplicateKeyError:
            return False

    assert (await asyncio.gather(*[insert() for _ in range(10)])).count(True) == 1


def _winning_index(plan: dict[str, Any]) -> str | None:
    stage = plan
    while stage:
        if stage.get("stage") == "IXSCAN":
            return str(stage["indexName"])
        stage = stage.get("inputStage")  # type: ignore[assignment]
    return None


@pytest.mark.parametrize(
    ("collection", "filter_", "sort", "index"),
    [
        (
            "messages",
            {"conversation_id": PydanticObjectId()},
            {"created_at": -1, "_id": -1},
            "conversation_recent",
        ),
        (
            "conversations",
            {"user_id": PydanticObjectId()},
            {"updated_at": -1, "_id": -1},
            "user_recent",
        ),
    ],
)
async def test_hot_queries_use_an_index(
    app: Any, collection: str, filter_: dict[str, Any], sort: dict[str, int], index: str
) -> None:
    await Conversation(
        user_id=PydanticObjectId(), org_id=PydanticObjectId(), updated_at=utcnow()
    ).insert()
    db = app.state.ctx.db
    explain = await db.command(
        "explain", {"find": collection, "filter": filter_, "sort": sort, "limit": 21}
    )
    assert _winning_index(explain["queryPlanner"]["winningPlan"]) == index
