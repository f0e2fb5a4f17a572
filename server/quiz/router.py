"""Quiz routes; thin, the rules are in the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from server.deps import CurrentUser, State
from server.quiz import service
from server.quiz.schemas import AttemptCreate, AttemptPublic, NextQuestion

router = APIRouter(prefix="/quiz", tags=["quizzes"])


@router.get(
    "/next",
    summary="The next question to practise, and why (never its answer)",
    response_model=NextQuestion,
)
async def next_question(
    user: CurrentUser,
    topic: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="A syllabus topic id to practise."),
    ] = None,
) -> NextQuestion:
    return await service.next_question(user=user, topic=topic)


@router.post(
    "/attempts",
    status_code=status.HTTP_201_CREATED,
    summary="Answer a question: the correct option, the explanation, mastery and XP",
    response_model=AttemptPublic,
    responses={
        201: {"description": "Also for a retried client_attempt_id (`replayed: true`)."},
    },
)
async def create_attempt(body: AttemptCreate, user: CurrentUser, state: State) -> AttemptPublic:
    return await service.answer(user=user, body=body, progress=state.progress)
