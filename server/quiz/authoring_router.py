"""Question management routes (mentors and admins of an organization); thin, the rules are in
`authoring`, `importing` and `generation`. See docs/PRACTICE.md, "Questions"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from models.question import QuestionStatus
from server.deps import CurrentUser, State
from server.quiz import authoring, generation, importing
from server.quiz.authoring_schemas import (
    GenerateRequest,
    ImportReport,
    JobAccepted,
    QuestionAuthored,
    QuestionCreate,
    QuestionPage,
    QuestionUpdate,
)
from server.schemas import PAGED, error_responses

router = APIRouter(prefix="/questions", tags=["questions"])

_FORBIDDEN = {403: "`forbidden`: only mentors and admins manage questions."}
_NOT_FOUND = {
    404: "`question_not_found`: not a question of your organization (the global bank's "
    "questions are read-only)."
}
_INVALID = {
    422: "`unknown_topic`: not a syllabus topic id; `duplicate_options`: two options are the "
    "same ignoring case, spacing and punctuation; `validation_error` otherwise (four options, "
    "an answer index 0-3, an explanation)."
}
_DUPLICATE = {409: "`duplicate_question`: the bank or your organization has this question."}

_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/QuestionCreate"},
                    "maxItems": importing.MAX_ROWS,
                }
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": "topic_id,difficulty,stem,option_a,option_b,option_c,option_d,"
                "answer,explanation,source_exam,source_year,status\n"
                "physics.kinematics,easy,Unit of velocity?,m/s,m,s,kg,A,Distance over "
                "time.,JEE Main,2023,draft\n",
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A CSV or JSON file (by its media type, else by "
                            "its .csv or .json name).",
                        }
                    },
                    "required": ["file"],
                },
            },
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Write a question for your organization (a draft unless `status` says published)",
    responses=error_responses({**_FORBIDDEN, **_DUPLICATE, **_INVALID}),
)
async def create_question(body: QuestionCreate, user: CurrentUser) -> QuestionAuthored:
    return QuestionAuthored.from_doc(await authoring.create(user=user, body=body))


@router.get(
    "",
    summary="Your organization's own questions, newest first (not the global bank); learners "
    "get the published ones, without answers",
    responses=PAGED,
)
async def list_questions(
    user: CurrentUser,
    topic: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    status: QuestionStatus | None = None,
    active: Annotated[
        bool | None, Query(description="Default true: retired (deleted) ones only with false.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> QuestionPage:
    questions, next_cursor = await authoring.list_own(
        user=user, topic=topic, status=status, active=active, limit=limit, cursor=cursor
    )
    with_key = authoring.is_manager(user)
    return QuestionPage(
        items=[QuestionAuthored.from_doc(q, with_key=with_key) for q in questions],
        next_cursor=next_cursor,
    )


@router.post(
    "/import",
    summary="Import questions: a JSON list or a CSV file; reports created and invalid rows",
    response_model=ImportReport,
    openapi_extra=_IMPORT_BODY,
    responses=error_responses(
        {
            **_FORBIDDEN,
            415: "`unsupported_media_type`: send application/json or text/csv.",
            422: "`invalid_upload`: not a list, no rows, more than 500 rows, or a CSV header "
            "without the required columns; `invalid_json`. Invalid rows are reported in the "
            "200 answer, not refused.",
        }
    ),
)
async def import_questions(request: Request, user: CurrentUser) -> ImportReport:
    authoring.ensure_manager(user)  # before reading the upload: a learner's is 403, whatever
    rows = importing.parse_upload(*await importing.upload_of(request))
    return await importing.import_rows(user=user, rows=rows)


@router.post(
    "/generate",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Generate draft questions on a topic in a background job (`GET /jobs/{job_id}`)",
    responses=error_responses(
        {
            **_FORBIDDEN,
            404: "`document_not_found`: `document_id` is not a document you may read.",
            409: "`document_not_ready`: the document is still being processed (or failed).",
            422: "`unknown_topic`: not a syllabus topic id.",
        }
    ),
)
async def generate_questions(body: GenerateRequest, user: CurrentUser, state: State) -> JobAccepted:
    job_id = await generation.request_generation(state=state, user=user, body=body)
    return JobAccepted(job_id=job_id)


@router.get(
    "/{question_id}",
    summary="One of your organization's questions, with its answer (learners: a published "
    "one, without it)",
    responses=error_responses(_NOT_FOUND),
)
async def get_question(question_id: str, user: CurrentUser) -> QuestionAuthored:
    question = await authoring.get_readable(user=user, question_id=question_id)
    return QuestionAuthored.from_doc(question, with_key=authoring.is_manager(user))


@router.patch(
    "/{question_id}",
    summary="Edit, publish or unpublish (`status`), retire or restore (`active`) a question",
    responses=error_responses(
        {
            **_FORBIDDEN,
            **_NOT_FOUND,
            409: "`duplicate_question`: the edit makes it a copy of another question; "
            "`question_busy`: edited by someone else at the same moment, try again.",
            **_INVALID,
        }
    ),
)
async def update_question(
    question_id: str, body: QuestionUpdate, user: CurrentUser
) -> QuestionAuthored:
    question = await authoring.update(user=user, question_id=question_id, body=body)
    return QuestionAuthored.from_doc(question)


@router.delete(
    "/{question_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Retire a question: never served again, kept for past attempts and results",
    responses=error_responses({**_FORBIDDEN, **_NOT_FOUND}),
)
async def retire_question(question_id: str, user: CurrentUser) -> Response:
    await authoring.retire(user=user, question_id=question_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
