"""Exam patterns: sections, question counts, duration and marking, as the real papers have
them (docs/PRACTICE.md). Pure data and arithmetic; nothing here touches the database."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from models.mock_test import Marking


@dataclass(frozen=True, slots=True)
class SectionSpec:
    name: str
    subjects: tuple[str, ...]
    questions: int


@dataclass(frozen=True, slots=True)
class Pattern:
    id: str
    exam: str
    sections: tuple[SectionSpec, ...]
    duration_minutes: int
    marking: Marking

    @property
    def questions(self) -> int:
        return sum(s.questions for s in self.sections)


# JEE Main paper 1 (B.E./B.Tech.): 3 subjects x 25 questions, 3 hours, +4 / -1 / 0.
# NEET (UG): Physics 45, Chemistry 45, Biology 90 (Botany and Zoology: the bank keeps them as
# one subject), 180 questions in 180 minutes, +4 / -1 / 0.
# UPSC CSE prelims GS paper I: 100 questions in 2 hours, +2 / -0.66 (a third of 2) / 0; its
# syllabus is GS I-III (ethics, GS IV, is a mains paper only).
PATTERNS: Final[Mapping[str, Pattern]] = {
    "JEE": Pattern(
        id="jee_main",
        exam="JEE",
        sections=(
            SectionSpec("Physics", ("physics",), 25),
            SectionSpec("Chemistry", ("chemistry",), 25),
            SectionSpec("Mathematics", ("mathematics",), 25),
        ),
        duration_minutes=180,
        marking=Marking(correct=4, wrong=-1, unanswered=0),
    ),
    "NEET": Pattern(
        id="neet",
        exam="NEET",
        sections=(
            SectionSpec("Physics", ("physics",), 45),
            SectionSpec("Chemistry", ("chemistry",), 45),
            SectionSpec("Biology", ("biology",), 90),
        ),
        duration_minutes=180,
        marking=Marking(correct=4, wrong=-1, unanswered=0),
    ),
    "UPSC": Pattern(
        id="upsc_prelims_gs",
        exam="UPSC",
        sections=(SectionSpec("General Studies", ("upsc_gs1", "upsc_gs2", "upsc_gs3"), 100),),
        duration_minutes=120,
        marking=Marking(correct=2, wrong=-0.66, unanswered=0),
    ),
}
MAX_QUESTIONS: Final = 200
MAX_DURATION_MINUTES: Final = 300


def exam_key(exam: str) -> str | None:
    """ "JEE Main", "jee", "JEE-Main", "jee_main", "IIT JEE" and "JEE Advanced" are JEE's
    pattern ("NEET-UG" NEET's, "UPSC CSE" UPSC's): the first word naming one, whatever
    separates the words; an exam without a pattern is None."""
    words = re.split(r"[^A-Z0-9]+", exam.upper())
    return next((w for w in words if w in PATTERNS), None)


def scaled(pattern: Pattern, questions: int) -> Pattern:
    """The pattern shortened or lengthened to `questions`, sections in proportion (largest
    remainders), the time in proportion too; the full count keeps the pattern's own id, any
    other count gets its own (`jee_main_30`, `jee_main_90`), so percentiles compare like with
    like. Caps (MAX_QUESTIONS, the bank) are the caller's."""
    questions = max(1, questions)
    if questions == pattern.questions:
        return pattern
    shares = [s.questions * questions / pattern.questions for s in pattern.sections]
    counts = [math.floor(x) for x in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: shares[i] - counts[i], reverse=True)
    for i in by_remainder[: questions - sum(counts)]:
        counts[i] += 1
    return Pattern(
        id=f"{pattern.id}_{questions}",
        exam=pattern.exam,
        sections=tuple(
            SectionSpec(s.name, s.subjects, n)
            for s, n in zip(pattern.sections, counts, strict=True)
            if n
        ),
        duration_minutes=minutes_for(pattern, questions),
        marking=pattern.marking,
    )


def minutes_for(pattern: Pattern, questions: int) -> int:
    """The pattern's time per question, for `questions` (at least one minute)."""
    return max(1, math.ceil(pattern.duration_minutes * questions / pattern.questions))


def custom(pattern: Pattern, *, subjects: Sequence[tuple[str, str]], questions: int) -> Pattern:
    """A test on chosen topics: one section per subject (`(subject id, name)`, in the given
    order), the questions shared evenly, the exam's marking and time per question."""
    base, extra = divmod(questions, len(subjects))
    sections = tuple(
        SectionSpec(name, (sid,), base + (1 if i < extra else 0))
        for i, (sid, name) in enumerate(subjects)
    )
    return Pattern(
        id="custom",
        exam=pattern.exam,
        sections=tuple(s for s in sections if s.questions),
        duration_minutes=minutes_for(pattern, questions),
        marking=pattern.marking,
    )
