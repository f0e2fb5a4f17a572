"""Syllabus names for quiz topics and the learner's exam, as the taxonomy spells them."""

from __future__ import annotations

from models import TopicRef, User
from server.memory.taxonomy import load_taxonomy


def topic_ref(topic_id: str, subject: str) -> TopicRef:
    """The taxonomy's name for a topic; a topic the taxonomy has dropped keeps its id as name."""
    topic = load_taxonomy().get(topic_id)
    if topic is None:
        return TopicRef(id=topic_id, name=topic_id, subject=subject)
    return TopicRef(id=topic.id, name=topic.name, subject=topic.subject)


def exam_of(user: User) -> str | None:
    """The learner's exam as the taxonomy spells it ("jee advanced" → "JEE"), or None."""
    if not user.profile.exam:
        return None
    known = {e for s in load_taxonomy().subjects.values() for e in s.exams}
    wanted = user.profile.exam.strip().upper()
    if wanted in known:
        return wanted
    first = wanted.split()[0] if wanted.split() else ""
    return first if first in known else None
