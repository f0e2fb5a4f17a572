"""Quiz routes; thin, the rules are in the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from server.deps import CurrentUser, State
from server.quiz import service
from server.quiz.schemas import AttemptCreate, AttemptPublic, NextQuestion
from server.schemas import error_responses

router = APIRouter(prefix="/quiz", tags=["quizzes"])


@router.get(
    "/next",
    summary="The next question to practise, and why (never its answer)",
    response_model=NextQuestion,
    responses=error_responses(
        {
            404: "`no_question_available`: no published question fits (yet).",
            422: "`unknown_topic`: `topic` is not a syllabus topic id.",
        }
    ),
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
        **error_responses(
            {
                404: "`question_not_found`.",
                422: "`option_out_of_range`: the question has fewer options.",
                409: "`client_attempt_id_reused`: that id was sent with another answer.",
                503: "Also `mastery_busy`: the answer is saved; retry with the same "
                "client_attempt_id.",
            }
        ),
    },
)
async def create_attempt(body: AttemptCreate, user: CurrentUser, state: State) -> AttemptPublic:
    return await service.answer(user=user, body=body, progress=state.progress)
