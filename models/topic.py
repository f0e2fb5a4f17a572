from __future__ import annotations

from datetime import datetime

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.common import utcnow


class Topic(Document):
    """One syllabus topic, as `server/memory/data/syllabus.json` defines it.

    The packaged taxonomy stays the source of truth (tagging reads the file); this collection
    mirrors it so clients and reports can list and join topics by `topic_id` in the database.
    `exams` are the exams of the topic's subject.
    """

    topic_id: str  # "<subject>.<slug>", the taxonomy's stable id
    name: str
    subject: str
    unit: str = ""
    exams: list[str] = Field(default_factory=list)
    synonyms: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "topics"
        indexes = [IndexModel([("topic_id", ASCENDING)], unique=True, name="topic_id_unique")]
