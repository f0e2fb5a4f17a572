"""Mock test and assignment routes; thin, the rules are in the services (docs/PRACTICE.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from models.mock_test import PaperResult
from server.deps import CurrentUser, State
from server.practice import assignments, service
from server.practice.schemas import (
    AnswerSave,
    AnswerSaved,
    AssignmentCreate,
    AssignmentPublic,
    AssignmentReport,
    MockTestCreate,
    MockTestPublic,
    MockTestSummary,
    MyAssignment,
)
from server.schemas import PAGED, Page, error_responses
from server.state import AppState

router = APIRouter(tags=["practice"])
_TEST_NOT_FOUND = error_responses({404: "`test_not_found`: no such test of yours."})


def _practice(state: State) -> service.Practice:
    return practice_of(state)


def practice_of(state: AppState) -> service.Practice:
    """The services' handles from the app state (also used by the periodic sweep)."""
    return service.Practice(
        progress=state.progress,
        notifier=state.notifier,
        grace=timedelta(seconds=state.settings.practice_grace_seconds),
    )


PracticeDep = Annotated[service.Practice, Depends(_practice)]


@router.post(
    "/tests",
    status_code=status.HTTP_201_CREATED,
    summary="Start a timed mock test (the exam's pattern, or chosen topics)",
    responses=error_responses(
        {
            404: "`no_question_available`; `assignment_not_found`.",
            422: "`unknown_exam`, `unknown_topic`, `assignment_not_a_test`.",
        }
    ),
)
async def create_test(body: MockTestCreate, user: CurrentUser) -> MockTestPublic:
    return MockTestPublic.from_doc(await service.build(user=user, body=body))


@router.get("/tests", summary="The caller's mock tests, newest first", responses=PAGED)
async def list_tests(
    user: CurrentUser,
    practice: PracticeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> Page[MockTestSummary]:
    items, next_cursor = await service.list_mine(
        user=user, limit=limit, cursor=cursor, practice=practice
    )
    return Page[MockTestSummary](items=items, next_cursor=next_cursor)


@router.get(
    "/tests/{test_id}",
    summary="A mock test (its result once ended; ended by the server past its end)",
    responses=_TEST_NOT_FOUND,
)
async def get_test(test_id: str, user: CurrentUser, practice: PracticeDep) -> MockTestPublic:
    return MockTestPublic.from_doc(await service.get(user=user, test_id=test_id, practice=practice))


@router.put(
    "/tests/{test_id}/answers/{question_id}",
    summary="Autosave one answer (null clears it)",
    responses=error_responses(
        {
            404: "`test_not_found`; `question_not_in_test`.",
            409: "`test_ended`: the test was submitted or its time (plus grace) is up.",
            422: "`option_out_of_range`.",
        }
    ),
)
async def save_answer(
    test_id: str, question_id: str, body: AnswerSave, user: CurrentUser, practice: PracticeDep
) -> AnswerSaved:
    return await service.save_answer(
        user=user, test_id=test_id, question_id=question_id, body=body, practice=practice
    )


@router.post(
    "/tests/{test_id}/submit",
    summary="End the test and get its result (the same result every time)",
    responses=_TEST_NOT_FOUND,
)
async def submit_test(test_id: str, user: CurrentUser, practice: PracticeDep) -> PaperResult:
    return await service.submit(user=user, test_id=test_id, practice=practice)


@router.post(
    "/groups/{group_id}/assignments",
    status_code=status.HTTP_201_CREATED,
    summary="Set a test or topic practice for a study group (its mentors)",
    responses=error_responses(
        {
            403: "`forbidden`: only the group's mentors set assignments.",
            404: "`group_not_found`.",
            422: "`unknown_exam`, `unknown_topic`, `topic_ids_required`, `due_in_past`.",
        }
    ),
)
async def create_assignment(
    group_id: str, body: AssignmentCreate, user: CurrentUser, state: State
) -> AssignmentPublic:
    assignment = await assignments.create(
        user=user, group_id=group_id, body=body, notifier=state.notifier
    )
    return AssignmentPublic.from_doc(assignment)


@router.get(
    "/assignments",
    summary="The assignments of the caller's groups, newest first, with their completion",
    responses=PAGED,
)
async def list_assignments(
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> Page[MyAssignment]:
    items, next_cursor = await assignments.list_mine(user=user, limit=limit, cursor=cursor)
    return Page[MyAssignment](items=items, next_cursor=next_cursor)


@router.get(
    "/groups/{group_id}/assignments/{assignment_id}",
    summary="An assignment with every member's completion and who is late (mentors)",
    responses=error_responses(
        {
            403: "`forbidden`: only the group's mentors see members' completion.",
            404: "`group_not_found`; `assignment_not_found`.",
        }
    ),
)
async def assignment_report(
    group_id: str, assignment_id: str, user: CurrentUser
) -> AssignmentReport:
    return await assignments.report(user=user, group_id=group_id, assignment_id=assignment_id)
