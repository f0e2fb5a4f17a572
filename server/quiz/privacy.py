"""Quiz answers and mastery in export and erasure (docs/PRIVACY.md)."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from models import Question, QuizAttempt, Topic, TopicMastery
from server.privacy.registry import (
    ErasureContext,
    ExportContext,
    PrivacyRegistry,
    chunks,
    collection_name,
    dump,
)


async def _export(ctx: ExportContext) -> dict[str, Any]:
    user_id = ctx.user_id
    attempts = [a async for a in QuizAttempt.find({"user_id": user_id}).sort("created_at", "_id")]
    questions: dict[PydanticObjectId | None, Question] = {}
    for chunk in chunks(sorted({a.question_id for a in attempts})):
        async for q in Question.find({"_id": {"$in": chunk}}):
            questions[q.id] = q
    attempt_views = []
    for attempt in attempts:
        view = dump(attempt, exclude=frozenset({"user_id"}))
        question = questions.get(attempt.question_id)
        if question is not None:
            # What was asked and what the learner chose, so the record reads on its own.
            chosen = (
                question.options[attempt.option] if attempt.option < len(question.options) else None
            )
            view["question"] = {"stem": question.stem, "chosen_option": chosen}
        attempt_views.append(view)
    mastery = [
        dump(m, exclude=frozenset({"user_id", "version"}))
        async for m in TopicMastery.find({"user_id": user_id}).sort("topic_id")
    ]
    return {"attempts": attempt_views, "mastery": mastery}


async def _delete(ctx: ErasureContext) -> None:
    for model in (QuizAttempt, TopicMastery):
        result = await model.get_pymongo_collection().delete_many({"user_id": ctx.user_id})
        ctx.report.add("deleted", collection_name(model), result.deleted_count)
    # Questions a mentor wrote stay (they are the organization's), without their author.
    unlinked = await Question.get_pymongo_collection().update_many(
        {"created_by": ctx.user_id}, {"$set": {"created_by": None}}
    )
    ctx.report.add("updated", collection_name(Question), unlinked.modified_count)


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.register_export("quiz", _export, collections=(QuizAttempt, TopicMastery, Question))
    registry.holds_no_personal_data(
        Question,
        why="the bank and organizations' questions; erasure unlinks their author (created_by)",
    )
    registry.holds_no_personal_data(Topic, why="the syllabus, the same for everyone")
    registry.register_erase(
        "quiz.delete",
        _delete,
        phase="per_user",
        collections=(QuizAttempt, TopicMastery),
        again=True,
    )
