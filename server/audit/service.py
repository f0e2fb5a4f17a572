"""Append-only audit trail, the `audit_log` collection's one owner: others record and read
through these functions. Callers pass ids and codes, never secrets or message content."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from models import AuditLog
from server.logs import request_id_var
from server.pagination import newest_first


async def record(
    *,
    action: str,
    actor_id: PydanticObjectId | None = None,
    org_id: PydanticObjectId | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> None:
    await AuditLog(
        action=action,
        actor_id=actor_id,
        org_id=org_id,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        details=details or {},
        request_id=request_id_var.get(),
    ).insert()


async def page(
    *,
    org_id: PydanticObjectId | None,
    limit: int,
    cursor: str | None,
    action: str | None = None,
) -> tuple[list[AuditLog], str | None]:
    """Newest first; served by `recent`, or by `org_recent` for one organization's trail."""
    query: dict[str, Any] = {}
    if org_id is not None:
        query["org_id"] = org_id
    if action is not None:
        query["action"] = action
    return await newest_first(AuditLog, query, "created_at", limit=limit, cursor=cursor)
