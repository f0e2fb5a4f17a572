"""API shapes of quizzes. A question goes out without its answer and explanation: those are
only in the answer to an attempt (`AttemptPublic`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from models import Question, TopicRef
from models.question import Difficulty
from models.topic_mastery import MasteryLevel
from server.schemas import RequestModel

NextReason = Literal[
    "requested", "review_due", "weak_topic", "new_topic", "low_mastery", "any", "repeat"
]


class TopicPublic(BaseModel):
    id: str
    name: str
    subject: str


class QuestionPublic(BaseModel):
    """A question as a learner sees it before answering: no answer, no explanation."""

    id: str
    subject: str
    topic: TopicPublic
    difficulty: Difficulty
    stem: str
    options: list[str]

    @classmethod
    def from_doc(cls, question: Question, topic: TopicRef) -> QuestionPublic:
        return cls(
            id=str(question.id),
            subject=question.subject,
            topic=TopicPublic(id=topic.id, name=topic.name, subject=topic.subject),
            difficulty=question.difficulty,
            stem=question.stem,
            options=list(question.options),
        )


# One topic's mastery as the learner's dashboard lists it (no docstring: the OpenAPI shape
# stays what it was when progress defined it).
class TopicMasteryPublic(BaseModel):
    topic_id: str
    name: str
    subject: str
    mastery: float = Field(description="Mastery points, 0 to 100 (docs/QUIZZES.md).")
    level: MasteryLevel


class QuizNote(BaseModel):
    """A passage of the learner's own library on the question's topic, to revise with."""

    document_id: str
    title: str
    page: int = Field(description="A PDF page from 1; a text file's chunk position.")
    quote: str = Field(description="The passage, trimmed to about 300 characters.")


class NextQuestion(BaseModel):
    question: QuestionPublic
    reason: NextReason = Field(description="Why this question now (docs/QUIZZES.md).")
    notes: list[QuizNote] = Field(
        default_factory=list,
        description="Up to 2 passages on the question's topic from documents the learner "
        "may read (docs/QUIZZES.md); empty when there are none.",
    )


class AttemptCreate(RequestModel):
    question_id: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
    option: Annotated[int, Field(strict=True, ge=0, description="Index of the chosen option.")]
    client_attempt_id: (
        Annotated[str, StringConstraints(strict=True, min_length=1, max_length=100)] | None
    ) = Field(default=None, description="Idempotency key: a retry returns the first result.")


class MasteryPointPublic(BaseModel):
    points: int
    level: MasteryLevel


class MasteryChange(BaseModel):
    topic_id: str
    name: str
    subject: str
    before: MasteryPointPublic
    after: MasteryPointPublic
    counted: bool = Field(
        description="False when the question was already answered today: mastery unchanged."
    )
    next_review_at: datetime


class XpChange(BaseModel):
    awarded: int = Field(description="0 for a wrong answer or a question already rewarded today.")
    xp_total: int
    level: int


class AttemptPublic(BaseModel):
    attempt_id: str
    question_id: str
    correct: bool
    correct_option: int
    explanation: str
    mastery: MasteryChange
    xp: XpChange
    replayed: bool = Field(description="True when a retried client_attempt_id was answered.")
    created_at: datetime
