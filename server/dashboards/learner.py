"""The learner's dashboard (`GET /progress/me`, an admin's learner detail, each member of a
mentor's group view): progress' totals, quiz mastery and reviews due, and memory's weak topics,
each from its owner's service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from models import User
from models.common import utcnow
from server.dashboards.schemas import ProgressPublic
from server.memory import service as memory_service
from server.progress.service import ProgressService
from server.quiz import service as quiz_service


async def progress_for(
    *, user: User, progress: ProgressService, now: datetime | None = None
) -> ProgressPublic:
    return (await progress_of(users=[user], progress=progress, now=now))[0]


async def progress_of(
    *, users: Sequence[User], progress: ProgressService, now: datetime | None = None
) -> list[ProgressPublic]:
    """Several learners' dashboards with one read of their totals; the per-learner lists
    (weak topics, topic mastery, reviews due) run concurrently."""
    now = now or utcnow()
    ids = [u.id for u in users if u.id is not None]
    summaries, weak, topics, due = await asyncio.gather(
        progress.summaries_of(users, now=now),
        asyncio.gather(*(memory_service.weak_topics(u.id, now=now) for u in users)),
        asyncio.gather(*(quiz_service.topics_for(i) for i in ids)),
        asyncio.gather(*(quiz_service.reviews_due(i, now) for i in ids)),
    )
    return [
        ProgressPublic.model_validate(
            {**dict(summary), "topics": mastered, "weak_topics": weak_topics, "reviews_due": n}
        )
        for summary, weak_topics, mastered, n in zip(summaries, weak, topics, due, strict=True)
    ]
