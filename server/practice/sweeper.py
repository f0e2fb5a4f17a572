"""The periodic sweep that ends mock tests nobody submitted (docs/PRACTICE.md): reads end
them too, but a test nobody reads again must still end, feed mastery and XP, and tell the
learner (`test:ended`). Every instance runs it; ending is a compare-and-set, so two sweeps
end a test once."""

from __future__ import annotations

import asyncio
import logging

from server.practice import service

log = logging.getLogger("starguide.practice")


async def sweep_forever(practice: service.Practice, interval_s: float) -> None:
    while True:
        try:
            ended = await service.sweep(practice=practice)
            if ended:
                log.info("mock tests ended by the server", extra={"tests": ended})
        except Exception:
            log.exception("sweeping mock tests failed")
        await asyncio.sleep(interval_s)
