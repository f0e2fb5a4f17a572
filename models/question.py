from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.common import utcnow

Difficulty = Literal["easy", "medium", "hard"]


class Question(Document):
    """One multiple-choice question of the global bank (shared by every organization).

    `key` is the stable id from the bank file, so re-loading the file updates questions in
    place instead of duplicating them. `answer` and `explanation` never leave the server before
    the learner has answered: API shapes are written by hand (server/quiz/schemas.py).
    """

    key: str
    exams: list[str]
    subject: str  # syllabus subject id
    topic_id: str  # syllabus topic id, "<subject>.<slug>"
    difficulty: Difficulty
    stem: str
    options: list[str]
    answer: int  # index into options
    explanation: str
    active: bool = True  # retired questions stay for past attempts but are never served
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "questions"
        indexes = [
            IndexModel([("key", ASCENDING)], unique=True, name="key_unique"),
            # Serves "the active questions of a topic" (the picker's per-topic candidates).
            IndexModel(
                [("topic_id", ASCENDING), ("active", ASCENDING), ("difficulty", ASCENDING)],
                name="topic_active",
            ),
            # Serves "the topics of an exam that have questions" (distinct over exams).
            IndexModel(
                [("exams", ASCENDING), ("active", ASCENDING), ("topic_id", ASCENDING)],
                name="exam_topics",
            ),
        ]
