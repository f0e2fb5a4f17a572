"""The normalised request every provider is asked with."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ai_router.tasks import TaskType

Role = Literal["user", "assistant"]
PassageSource = Literal["document", "notes", "bank", "syllabus"]

GROUNDING_INSTRUCTION = (
    "Answer from these passages when they are relevant and cite them as [n] (the passage's "
    "number) right after the sentence they support. Do not cite a passage you did not use; "
    "if none is relevant, answer from your own knowledge without citations."
)


class ChatTurn(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str


class GroundingPassage(BaseModel):
    """A numbered passage the reply may cite as `[n]`: from the learner's documents
    (`document`) or from knowledge the app ships (`notes`, `bank` explanations, `syllabus`)."""

    model_config = ConfigDict(frozen=True)

    n: int = Field(ge=1)
    title: str
    page: int | None = None
    text: str
    source: PassageSource = "document"


class PracticeQuestion(BaseModel):
    """A multiple-choice question from the app's bank, offered when the learner asks to
    practise; `answer` indexes `options`."""

    model_config = ConfigDict(frozen=True)

    stem: str
    options: tuple[str, ...] = Field(min_length=2, max_length=6)
    answer: int = Field(ge=0)
    explanation: str = ""
    topic: str | None = None


def grounding_prompt(
    passages: tuple[GroundingPassage, ...], practice: tuple[PracticeQuestion, ...] = ()
) -> str:
    """The system-prompt section that hands passages (and bank questions) to a vendor model:
    built here only, so every vendor is told the same thing in the same words."""
    parts: list[str] = []
    if passages:
        listed = "\n".join(
            f"[{p.n}] {p.title}"
            + (f", page {p.page}" if p.page is not None else "")
            + f": {' '.join(p.text.split())}"
            for p in passages
        )
        parts.append(f"{GROUNDING_INSTRUCTION}\n\nPassages:\n{listed}")
    if practice:
        q = practice[0]
        options = " ".join(f"{'ABCDEF'[i]}) {o}" for i, o in enumerate(q.options))
        parts.append(
            "If the learner asks for practice, you may give this question from the app's bank "
            f"(do not reveal the answer until they try): {q.stem} {options}"
        )
    return "\n\n".join(parts)


class ChatRequest(BaseModel):
    """What the app asks for; provider choice inputs travel with it so planning needs no I/O."""

    model_config = ConfigDict(frozen=True)

    message: str = Field(description="The learner's new message.")
    system_prompt: str = ""
    history: tuple[ChatTurn, ...] = ()
    task_hint: TaskType | None = Field(
        default=None, description="Overrides the task classified from the message."
    )
    max_tokens: int = Field(default=1024, gt=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    user_id: str | None = None
    organization_id: str | None = None
    provider: str | None = Field(default=None, description="Explicit provider for this request.")
    preferred_provider: str | None = Field(default=None, description="The user's preference.")
    allowed_providers: tuple[str, ...] | None = Field(
        default=None, description="Providers the organization allows; None means no restriction."
    )
    remaining_budget_usd: float | None = Field(
        default=None, description="Learner's remaining daily budget; None means unlimited."
    )
    weak_topics: tuple[str, ...] = ()
    passages: tuple[GroundingPassage, ...] = Field(
        default=(), description="Numbered passages the reply may cite as [n]."
    )
    practice: tuple[PracticeQuestion, ...] = Field(
        default=(), description="Bank questions to offer when the learner asks to practise."
    )
    variant: int = Field(
        default=0, ge=0, description="0 for a first reply; n for the n-th regenerate."
    )

    def full_system_prompt(self) -> str:
        """The system prompt a vendor model is sent: ours plus the grounding section."""
        grounding = grounding_prompt(self.passages, self.practice)
        if not grounding:
            return self.system_prompt
        return f"{self.system_prompt}\n\n{grounding}" if self.system_prompt else grounding
