from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from models import StudyGroup
from models.study_group import GroupRole
from server.schemas import RequestModel

GroupName = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=120)
]


class GroupCreate(RequestModel):
    name: GroupName


class GroupJoin(RequestModel):
    invite_code: Annotated[
        str, StringConstraints(strict=True, strip_whitespace=True, min_length=4, max_length=64)
    ]


class MemberPublic(BaseModel):
    user_id: str
    role: GroupRole
    joined_at: datetime


class GroupPublic(BaseModel):
    id: str
    name: str
    org_id: str
    conversation_id: str
    members: list[MemberPublic]
    # Only mentors of the group (and admins) see it: it lets anyone in.
    invite_code: str | None = Field(default=None)
    created_at: datetime

    @classmethod
    def from_doc(cls, group: StudyGroup, *, show_code: bool) -> GroupPublic:
        return cls(
            id=str(group.id),
            name=group.name,
            org_id=str(group.org_id),
            conversation_id=str(group.conversation_id),
            members=[
                MemberPublic(user_id=str(m.user_id), role=m.role, joined_at=m.joined_at)
                for m in group.members
            ],
            invite_code=group.invite_code if show_code else None,
            created_at=group.created_at,
        )


class GroupPage(BaseModel):
    items: list[GroupPublic]
    next_cursor: str | None
