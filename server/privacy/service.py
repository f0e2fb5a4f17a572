"""Export (GDPR art. 15 and 20) and erasure (art. 17) of one user's data (docs/PRIVACY.md).

This module queries nothing itself: every feature registers the export sections and erasure
steps for the data it owns (`server/<feature>/privacy.py`, see `server.privacy.registry`),
the app factory installs them here, and this module runs them in order and audits.

Erasure runs in an order that is safe to rerun after a crash: the account is disabled first
(every request and socket refused at once), the user document is deleted last (an admin can
run the erasure again until it is), and every step before that finds what is left by the
user's id, so a second run picks up where the first stopped.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from models import User
from models.common import utcnow
from server.audit import service as audit_service
from server.privacy.registry import ErasureContext, ExportContext, Facts, PrivacyRegistry
from server.privacy.schemas import ErasureReport
from server.state import AppState

log = logging.getLogger("starguide.privacy")

EXPORT_FORMAT: Final = "starguide.export"
EXPORT_VERSION: Final = 1

_installed: PrivacyRegistry | None = None


def install(registry: PrivacyRegistry) -> None:
    """Makes `registry` the steps every export and erasure runs (the app factory calls it).
    Raises `RegistryError` at once if its steps cannot be ordered."""
    global _installed
    registry.validate()
    _installed = registry


def _registry() -> PrivacyRegistry:
    if _installed is None:
        # Never an export or erasure with nothing in it: that would be wrong, not empty.
        raise RuntimeError("no privacy steps installed: server.app.create_app installs them")
    return _installed


async def export_user(user: User, *, actor: User | None = None) -> dict[str, Any]:
    """Everything StarGuide holds about `user`, as one JSON-serialisable document.

    Read with cursors, but assembled in memory: an export is as large as the user's history
    (a few MB for a heavy learner), which is fine for a request; a much larger one would need
    a background job writing a file. Audited without content."""
    assert user.id is not None
    registry = _registry()
    ctx = ExportContext(user=user, user_id=user.id)
    ctx.facts = Facts(ctx, registry.providers())
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": utcnow().isoformat(),
    }
    for step in registry.export_steps():
        document[step.name] = await step.fn(ctx)
    await audit_service.record(
        action="privacy.export",
        actor_id=(actor or user).id,
        org_id=user.org_id,
        target_type="user",
        target_id=str(user.id),
        details={"version": EXPORT_VERSION, **ctx.counts},
    )
    return document


async def erase_user(state: AppState, *, user: User, actor: User | None = None) -> ErasureReport:
    """Erases `user` and everything of theirs (docs/PRIVACY.md); returns counts per collection.

    Safe to run again after a crash, as long as the user document exists (it goes last).
    A writer still running for the user (a progress update, a reply's memory update) can land
    after the deletes: the steps registered with `again` (the per-user collections, the AI
    usage pseudonym, the leaderboards) run a second time once the account is gone, after
    which the writers find no account to act for."""
    assert user.id is not None
    registry = _registry()
    report = ErasureReport(user_id=str(user.id))
    ctx = ErasureContext(user=user, user_id=user.id, state=state, report=report)
    ctx.facts = Facts(ctx, registry.providers())
    steps = registry.erase_steps()
    for step in steps:
        await step.fn(ctx)
    ctx.again = True
    for step in steps:
        if step.again:
            await step.fn(ctx)
    await audit_service.record(
        action="privacy.erase",
        actor_id=(actor or user).id,
        org_id=user.org_id,
        target_type="user",
        target_id=str(user.id),
        details=report.model_dump(exclude={"user_id"}),
    )
    log.info("user erased", extra={"user_id": str(user.id), "deleted": report.deleted})
    return report
