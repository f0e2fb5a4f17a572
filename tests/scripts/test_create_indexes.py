"""`create_indexes`: creates what the models declare, reports it, and creates nothing twice."""

from __future__ import annotations

from typing import Any

from beanie import init_beanie
from pymongo.asynchronous.database import AsyncDatabase

from models import DOCUMENT_MODELS
from scripts import create_indexes
from server.config import Settings
from tests.scripts.conftest import Run


async def test_creates_declared_indexes_then_nothing(
    run_script: Run, db: AsyncDatabase[Any]
) -> None:
    # The fixture's own init_beanie already made them: drop a few to have something to create.
    await db["users"].drop_index("legacy_id_unique")
    await db["topics"].drop()
    first = await run_script(create_indexes)
    assert first.ok
    assert first.rows["users"].created == 1 and first.rows["users"].detail == "legacy_id_unique"
    assert first.rows["topics"].created == 1 and "topic_id_unique" in first.rows["topics"].detail
    assert first.rows["messages"].created == 0 and first.rows["messages"].unchanged >= 6
    users = await (await db["users"].list_indexes()).to_list()
    assert any(i["name"] == "legacy_id_unique" and i["unique"] for i in users)

    second = await run_script(create_indexes)
    assert second.total("created") == 0
    assert second.total("unchanged") == first.total("created") + first.total("unchanged")


async def test_a_conflicting_index_fails_its_collection(
    script_settings: Settings, db: AsyncDatabase[Any]
) -> None:
    await db["topics"].drop()
    await db["topics"].create_index("topic_id", name="topic_id_unique")  # not unique
    try:
        args = create_indexes.build_parser().parse_args([])
        summary = await create_indexes.run(args, script_settings)
    finally:
        await db["topics"].drop()
        await init_beanie(database=db, document_models=DOCUMENT_MODELS)
    assert not summary.ok
    assert summary.rows["topics"].failed == 1
    assert [n.name for n in summary.notes] == ["topics"]
    assert summary.rows["users"].failed == 0 and summary.rows["users"].unchanged >= 2
