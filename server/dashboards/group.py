"""A mentor's view of a study group: every member with their dashboard. Who may look is the
groups feature's rule (`can_manage`); the look itself is audited (issue 7)."""

from __future__ import annotations

from models import User
from server.audit import service as audit_service
from server.dashboards import learner
from server.dashboards.schemas import GroupProgress, MemberProgress
from server.errors import Forbidden
from server.groups import service as groups_service
from server.progress.service import ProgressService
from server.users import service as users_service


async def members_progress(
    *, user: User, group_id: str, progress: ProgressService
) -> GroupProgress:
    """The group's mentors and its organization's admins see every member's progress; a
    plain member may see the group but not the others' progress (403, the group is theirs)."""
    group = await groups_service.get_visible(user=user, group_id=group_id)
    if not groups_service.can_manage(user, group):
        raise Forbidden("Only the group's mentors see its members' progress.", code="forbidden")
    users = await users_service.users_by_ids(user_ids=[m.user_id for m in group.members])
    present = [m for m in group.members if m.user_id in users]  # erased accounts drop out
    views = await learner.progress_of(users=[users[m.user_id] for m in present], progress=progress)
    await audit_service.record(  # a staff read of learners' data: who looked, at which group
        action="admin.read_group_progress",
        actor_id=user.id,
        org_id=group.org_id,
        target_type="study_group",
        target_id=str(group.id),
        details={"members": len(present)},
    )
    return GroupProgress(
        group_id=str(group.id),
        items=[
            MemberProgress(
                user_id=str(m.user_id),
                display_name=users[m.user_id].profile.display_name,
                role=m.role,
                joined_at=m.joined_at,
                progress=view,
            )
            for m, view in zip(present, views, strict=True)
        ],
    )
