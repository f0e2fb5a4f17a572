"""Questions written by an AI vendor through the router, and the second pass that solves them.

The writer is asked for JSON (`{"questions": [{stem, options, answer, explanation}]}`); every
item is checked for structure (four distinct options, one answer index, an explanation) on its
own, so one malformed item costs only itself. The solver is a separate request that sees the
question without its key (and, when another vendor is enabled, goes to that one): a question
whose solver does not pick the key is rejected, since a key the model cannot reproduce is as
likely wrong as the question is hard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ai_router import AIRouter, ChatRequest, TaskType
from ai_router.config import OFFLINE
from server.memory.taxonomy import Topic
from server.quiz.offline_questions import OPTION_COUNT, Draft, SourceText
from server.quiz.visibility import normalise

LETTERS: Final = "ABCD"
PASSAGES_SENT: Final = 6
PASSAGE_CHARS: Final = 1500
WRITER_MAX_TOKENS: Final = 3000
SOLVER_MAX_TOKENS: Final = 400

WRITER_PROMPT: Final = (
    "You write multiple-choice practice questions for Indian competitive exams (JEE, NEET, "
    "UPSC). Each question has exactly four options, exactly one of them correct, and a short "
    "explanation of why it is correct. Reply with JSON only, no prose, in this shape: "
    '{"questions": [{"stem": "...", "options": ["...", "...", "...", "..."], '
    '"answer": <the index 0-3 of the correct option>, "explanation": "..."}]}'
)
SOLVER_PROMPT: Final = (
    "Solve the multiple-choice question. Work it out briefly if you need to, then end with "
    'a last line of the form "Answer: X", X being the letter of the one correct option.'
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class _Item(BaseModel):
    """One question as the writer must send it (extra keys are tolerated, not stored)."""

    model_config = ConfigDict(extra="ignore")

    stem: Text
    options: Annotated[list[Text], Field(min_length=OPTION_COUNT, max_length=OPTION_COUNT)]
    answer: Annotated[int, Field(strict=True, ge=0, lt=OPTION_COUNT)]
    explanation: Text


@dataclass(frozen=True, slots=True)
class Written:
    """What the writer sent: the well-formed drafts, how many items were not, and who wrote."""

    drafts: list[Draft]
    malformed: int
    provider: str


def vendors(router: AIRouter, allowed: Sequence[str] | None) -> tuple[str, ...]:
    """The enabled AI vendors the organization allows (the offline mentor writes no JSON)."""
    return tuple(
        p
        for p in router.providers
        if p != OFFLINE and router.allows(p, allowed_providers=tuple(allowed) if allowed else None)
    )


def _json_of(text: str) -> Any:
    """The JSON in a reply, tolerating a code fence or a sentence around it."""
    text = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    for start, end in (("{", "}"), ("[", "]")):
        first, last = text.find(start), text.rfind(end)
        if first != -1 and last > first:
            try:
                return json.loads(text[first : last + 1])
            except json.JSONDecodeError:
                continue
    return None


def parse_drafts(text: str) -> tuple[list[Draft], int]:
    """The well-formed questions of a writer's reply and the number of malformed items (a
    reply that is no JSON at all counts as one)."""
    data = _json_of(text)
    items = data.get("questions") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return [], 1
    drafts, malformed = [], 0
    for raw in items:
        try:
            item = _Item.model_validate(raw)
        except ValidationError:
            malformed += 1
            continue
        if len({normalise(o) for o in item.options}) != OPTION_COUNT:
            malformed += 1
            continue
        drafts.append(
            Draft(
                stem=item.stem,
                options=tuple(item.options),
                answer=item.answer,
                explanation=item.explanation,
            )
        )
    return drafts, malformed


def parse_letter(text: str) -> int | None:
    """The option a solver chose: its "Answer: X" line, or a reply that is just a letter."""
    found = re.findall(r"answer\W{0,3}(?:is\W{0,3})?\(?([A-D])\b", text, re.IGNORECASE)
    if found:
        return LETTERS.index(found[-1].upper())
    bare = re.fullmatch(r"\W*([A-D])\W*", text.strip(), re.IGNORECASE)
    return LETTERS.index(bare.group(1).upper()) if bare else None


def _material(sources: Sequence[SourceText]) -> str:
    lines = []
    for n, source in enumerate(sources[:PASSAGES_SENT], start=1):
        text = " ".join(source.text.split())[:PASSAGE_CHARS]
        lines.append(f"[{n}] {source.title}: {text}")
    return "\n".join(lines)


async def write(
    router: AIRouter,
    *,
    topic: Topic,
    difficulty: str,
    count: int,
    sources: Sequence[SourceText],
    providers: tuple[str, ...],
    user_id: str,
    org_id: str,
) -> Written:
    """Asks a vendor for `count` questions on the topic (from the passages when there are
    any). Raises the router's `AIUnavailable` when no vendor answers."""
    ask = (
        f"Write {count} {difficulty} questions on the syllabus topic {topic.name!r} "
        f"({topic.subject})."
    )
    if sources:
        ask += " Base them on these passages; do not ask about anything they do not say.\n"
        ask += _material(sources)
    result = await router.complete(
        ChatRequest(
            message=ask,
            system_prompt=WRITER_PROMPT,
            task_hint=TaskType.LONG_FORM,
            max_tokens=WRITER_MAX_TOKENS,
            temperature=0.7,
            user_id=user_id,
            organization_id=org_id,
            allowed_providers=providers,
        )
    )
    drafts, malformed = parse_drafts(result.text)
    return Written(drafts=drafts[:count], malformed=malformed, provider=result.provider)


async def solve(
    router: AIRouter,
    draft: Draft,
    *,
    writer: str,
    providers: tuple[str, ...],
    user_id: str,
    org_id: str,
) -> int | None:
    """The option a second request picks for the question shown without its key; another
    vendor than the writer when one is enabled, so one model does not grade itself."""
    others = tuple(p for p in providers if p != writer)
    options = "\n".join(f"{LETTERS[i]}) {o}" for i, o in enumerate(draft.options))
    result = await router.complete(
        ChatRequest(
            message=f"{draft.stem}\n{options}",
            system_prompt=SOLVER_PROMPT,
            task_hint=TaskType.STEP_BY_STEP,
            max_tokens=SOLVER_MAX_TOKENS,
            temperature=0.0,
            user_id=user_id,
            organization_id=org_id,
            allowed_providers=others or providers,
        )
    )
    return parse_letter(result.text)
