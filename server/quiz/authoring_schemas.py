"""API shapes of question management (mentors and admins): unlike `QuestionPublic`, these
carry the answer and the explanation, and are only ever sent to the question's authors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, model_validator

from models import Question
from models.question import Difficulty, QuestionStatus
from server.quiz.schemas import TopicPublic
from server.quiz.topics import topic_ref
from server.schemas import Page, RequestModel

OPTION_COUNT = 4
TopicId = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=100)
]
Stem = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=2000)
]
OptionText = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=500)
]
Options = Annotated[list[OptionText], Field(min_length=OPTION_COUNT, max_length=OPTION_COUNT)]
AnswerIndex = Annotated[
    int, Field(strict=True, ge=0, lt=OPTION_COUNT, description="Index of the correct option.")
]
Explanation = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=4000)
]


class SourceBody(RequestModel):
    """A previous-year question's exam and year."""

    exam: Annotated[
        str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=40)
    ]
    year: Annotated[int, Field(strict=True, ge=1950, le=2100)]


# The contract names a test's question `text` and a result's key `correct_option`; clients
# written against it may send those names here too (each instead of, never beside, ours).
_CONTRACT_NAMES: dict[str, str] = {"text": "stem", "correct_option": "answer"}


class _ContractNames(RequestModel):
    @model_validator(mode="before")
    @classmethod
    def _contract_names(cls, data: Any) -> Any:
        """`text` as `stem`, `correct_option` as `answer`; both of a pair stays a 422 (the
        alias is then an unknown field)."""
        if isinstance(data, dict):
            for alias, name in _CONTRACT_NAMES.items():
                if alias in data and name not in data:
                    data = {k: v for k, v in data.items() if k != alias} | {name: data[alias]}
        return data


class QuestionCreate(_ContractNames):
    topic_id: TopicId = Field(description="A syllabus topic id, e.g. `physics.kinematics`.")
    difficulty: Difficulty = "medium"
    stem: Stem
    options: Options = Field(description="Exactly four distinct options.")
    answer: AnswerIndex
    explanation: Explanation
    source: SourceBody | None = Field(default=None, description="For previous-year questions.")
    status: QuestionStatus = Field(default="draft", description="Drafts are never served.")


class QuestionUpdate(_ContractNames):
    """Only the fields sent change. `status` publishes or unpublishes; `active: false`
    retires the question (as DELETE does), `active: true` brings it back."""

    topic_id: TopicId | None = None
    difficulty: Difficulty | None = None
    stem: Stem | None = None
    options: Options | None = None
    answer: AnswerIndex | None = None
    explanation: Explanation | None = None
    source: SourceBody | None = None
    status: QuestionStatus | None = None
    active: Annotated[bool, Field(strict=True)] | None = None


class SourcePublic(BaseModel):
    exam: str
    year: int


class QuestionAuthored(BaseModel):
    """A question as its organization's mentors and admins see it: with the answer."""

    id: str
    topic: TopicPublic
    topic_id: str
    subject: str
    exams: list[str]
    difficulty: Difficulty
    stem: str
    text: str = Field(description="The stem again, by the name a test's questions use.")
    options: list[str]
    answer: int | None = Field(description="Null for learners (they may be tested on it).")
    correct_option: int | None = Field(description="The answer again, by the name results use.")
    explanation: str | None = Field(description="Null for learners.")
    status: QuestionStatus
    active: bool
    source: SourcePublic | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_doc(cls, question: Question, *, with_key: bool = True) -> QuestionAuthored:
        ref = topic_ref(question.topic_id, question.subject)
        return cls(
            id=str(question.id),
            topic=TopicPublic(id=ref.id, name=ref.name, subject=ref.subject),
            topic_id=ref.id,
            subject=question.subject,
            exams=list(question.exams),
            difficulty=question.difficulty,
            stem=question.stem,
            text=question.stem,
            options=list(question.options),
            answer=question.answer if with_key else None,
            correct_option=question.answer if with_key else None,
            explanation=question.explanation if with_key else None,
            status=question.status,
            active=question.active,
            source=SourcePublic(**question.source.model_dump()) if question.source else None,
            created_by=str(question.created_by) if question.created_by else None,
            created_at=question.created_at,
            updated_at=question.updated_at,
        )


QuestionPage = Page[QuestionAuthored]


class RowError(BaseModel):
    field: str = Field(description="The field at fault; empty for the row as a whole.")
    message: str
    type: str


class InvalidRow(BaseModel):
    row: int = Field(description="The question's position in the upload, from 1.")
    errors: list[RowError]


class ImportReport(BaseModel):
    created: int
    ids: list[str] = Field(description="The created questions' ids, in upload order.")
    invalid: list[InvalidRow]


class GenerateRequest(RequestModel):
    topic_id: TopicId
    count: Annotated[int, Field(strict=True, ge=1, le=20)] = 5
    difficulty: Difficulty | None = Field(default=None, description="Default: medium.")
    document_id: (
        Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)] | None
    ) = Field(default=None, description="A ready library document the caller may read.")


class JobAccepted(BaseModel):
    job_id: str = Field(description="Follow it with `GET /jobs/{job_id}`.")


def row_errors(errors: list[Any]) -> list[RowError]:
    """Pydantic's errors of one row as `RowError`s (field path, message, type)."""
    return [
        RowError(
            field=".".join(str(p) for p in e.get("loc", ())),
            message=str(e.get("msg", "")),
            type=str(e.get("type", "")),
        )
        for e in errors
    ]
