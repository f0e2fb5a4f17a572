"""Task classification from the learner's message; drives model tier and provider order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from ai_router.topics import Subject, keyword_counts, subject_of


class TaskType(StrEnum):
    """What kind of help is asked for."""

    QUICK_DOUBT = "quick_doubt"
    STEP_BY_STEP = "step_by_step"
    LONG_FORM = "long_form"
    REVISION_SUMMARY = "revision_summary"
    CODE = "code"


@dataclass(frozen=True, slots=True)
class Classification:
    """The task and, when recognised, the subject (used in plan reasons and offline replies)."""

    task: TaskType
    subject: Subject | None


_NUMBER: Final[re.Pattern[str]] = re.compile(r"\d")
_STEP_SUBJECTS: Final[frozenset[str]] = frozenset({"physics", "chemistry", "maths"})


def classify(message: str) -> Classification:
    """Classify with a single keyword scan; cheap enough for the planning budget."""
    if "```" in message:
        counts = keyword_counts(message)
        return Classification(TaskType.CODE, subject_of(counts))
    counts = keyword_counts(message)
    subject = subject_of(counts)
    if counts.get("code", 0) >= 1 and counts.get("code", 0) >= counts.get(subject or "", 0):
        return Classification(TaskType.CODE, subject)
    if counts.get("revision", 0):
        return Classification(TaskType.REVISION_SUMMARY, subject)
    essay_subject = subject in (None, "upsc_gs", "biology")
    if counts.get("longform", 0) and (essay_subject or len(message) > 400):
        return Classification(TaskType.LONG_FORM, subject)
    if subject in _STEP_SUBJECTS and (
        counts.get("problem", 0) or _NUMBER.search(message, 0, 1500) is not None
    ):
        return Classification(TaskType.STEP_BY_STEP, subject)
    if subject == "upsc_gs" and len(message) > 300:
        return Classification(TaskType.LONG_FORM, subject)
    return Classification(TaskType.QUICK_DOUBT, subject)


def classify_task(message: str) -> TaskType:
    """Public shortcut: only the task type of `message`."""
    return classify(message).task
