"""The audit log in export and erasure (docs/PRIVACY.md, "Why audit entries stay")."""

from __future__ import annotations

from typing import Any

from models import AuditLog
from server.privacy.registry import ExportContext, PrivacyRegistry


async def _export(ctx: ExportContext) -> list[dict[str, Any]]:
    """Entries the user caused (`actor_id`): sign-up, logins including failed ones, exports."""
    return [
        {
            "action": entry.action,
            "outcome": entry.outcome,
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "details": entry.details,
            "created_at": entry.created_at.isoformat(),
        }
        async for entry in AuditLog.find({"actor_id": ctx.user_id}).sort("created_at", "_id")
    ]


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.register_export("audit", _export, collections=(AuditLog,))
    registry.kept_on_erasure(
        AuditLog,
        why="who did what, for security and to show the erasure was honoured (GDPR 17(3)); "
        "ids and outcomes only, never content",
    )
