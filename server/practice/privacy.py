"""Mock tests and assignments in export and erasure (docs/PRIVACY.md, docs/PRACTICE.md)."""

from __future__ import annotations

from typing import Any

from models import Assignment, MockTest
from server.privacy.registry import (
    ErasureContext,
    ExportContext,
    PrivacyRegistry,
    collection_name,
    dump,
)


async def _export_tests(ctx: ExportContext) -> list[dict[str, Any]]:
    """Every test with its questions, the answers given and the result. A test still running
    goes out without its answer key and explanations: an export is no way to cheat."""
    views = []
    async for test in MockTest.find({"user_id": ctx.user_id}).sort("created_at", "_id"):
        view = dump(test, exclude=frozenset({"user_id", "option_counts"}))
        if test.status == "in_progress":
            for item in view["items"]:
                item.pop("answer", None)
                item.pop("explanation", None)
        views.append(view)
    return views


async def _export_assignments(ctx: ExportContext) -> list[dict[str, Any]]:
    """The assignments the user set as a mentor (what members did is theirs, not here)."""
    cursor = Assignment.find({"created_by": ctx.user_id}).sort("created_at", "_id")
    return [dump(a, exclude=frozenset({"created_by"})) async for a in cursor]


async def _delete_tests(ctx: ErasureContext) -> None:
    result = await MockTest.get_pymongo_collection().delete_many({"user_id": ctx.user_id})
    ctx.report.add("deleted", collection_name(MockTest), result.deleted_count)


async def _unsign_assignments(ctx: ErasureContext) -> None:
    """An assignment belongs to its group: it stays for the members, without its author."""
    result = await Assignment.get_pymongo_collection().update_many(
        {"created_by": ctx.user_id}, {"$set": {"created_by": None}}
    )
    ctx.report.add("updated", "assignments_unsigned", result.modified_count)


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.register_export("mock_tests", _export_tests, collections=(MockTest,))
    registry.register_export("assignments", _export_assignments, collections=(Assignment,))
    registry.register_erase(
        "practice.unsign_assignments",
        _unsign_assignments,
        phase="hand_over",
        collections=(Assignment,),
    )
    # Again after the account is gone: a test ended by a sweep running meanwhile is gone too.
    registry.register_erase(
        "practice.delete_tests",
        _delete_tests,
        phase="per_user",
        collections=(MockTest,),
        again=True,
    )
