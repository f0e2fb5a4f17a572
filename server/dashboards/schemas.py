"""The dashboards' API shapes: the contract's `progress`, and a study group's member list
with each member's progress."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from models.study_group import GroupRole
from server.memory.service import WeakTopicView
from server.progress.schemas import ProgressSummary
from server.quiz.schemas import TopicMasteryPublic


class ProgressPublic(ProgressSummary):
    # Progress' own part (xp, level, streak, daily goal) first, then quizzes' and memory's.
    topics: list[TopicMasteryPublic] = Field(
        description="Topic mastery from quizzes, most recently practised first (at most 50)."
    )
    weak_topics: list[WeakTopicView]
    reviews_due: int = Field(description="Topics whose spaced (FSRS) review is due now.")


class MemberProgress(BaseModel):
    user_id: str
    display_name: str
    role: GroupRole
    joined_at: datetime
    progress: ProgressPublic


class GroupProgress(BaseModel):
    group_id: str
    items: list[MemberProgress] = Field(description="Every member, in the group's join order.")
