"""Stopping a reply wherever it is being generated: the cross-instance abort protocol.

Here: the generation's task is cancelled and saves its partial text itself. Elsewhere (or
nowhere, after a crash): the stored status becomes `aborted` (the durable signal the owner
sees at its next flush), a control message makes the owner stop at once, and we wait a moment
for it to save its text (it sets `completed_at`); if nobody does, we end the reply ourselves.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from models import Message
from server.chat.generation import GenerationRegistry
from server.cluster import Cluster
from server.conversations import messages
from server.errors import Conflict

# The control message (server/cluster.py) asking every instance to stop one reply.
ABORT_CONTROL: Final = "abort"
# How long an abort waits for the instance generating the reply to save its partial text.
_ABORT_SETTLE_SECONDS = 2.0


class AbortRequest(BaseModel):
    message_id: str


class Aborts:
    def __init__(self, *, cluster: Cluster, generations: GenerationRegistry) -> None:
        self._cluster = cluster
        self._generations = generations
        cluster.on(ABORT_CONTROL, self._on_abort)

    async def abort(self, message: Message) -> Message:
        """Stops a reply being generated; a reply that has already ended is returned as is."""
        if message.role != "assistant":
            raise Conflict("Only an assistant reply can be aborted.", code="not_abortable")
        if message.status != "streaming":
            return message
        generation = self._generations.get(str(message.id))
        if generation is not None and generation.stop("aborted"):
            await generation.wait()
        else:
            await messages.mark_aborted(message_id=message.id)
            request = AbortRequest(message_id=str(message.id))
            await self._cluster.publish(ABORT_CONTROL, request.model_dump())
            await self._await_settled(message)
        return await messages.reload(message)

    def stop_conversation(self, conversation_id: str) -> int:
        """Stops this process's replies in a conversation being deleted: no paying for them."""
        running = self._generations.in_conversation(conversation_id)
        return len([g for g in running if g.stop("aborted")])

    async def _on_abort(self, data: dict[str, Any]) -> None:
        try:
            request = AbortRequest.model_validate(data)
        except ValidationError:
            return
        generation = self._generations.get(request.message_id)
        if generation is not None:
            generation.stop("aborted")

    async def _await_settled(self, message: Message) -> None:
        """Waits for the owner to save the aborted reply; settles it alone if nobody does."""
        deadline = time.monotonic() + _ABORT_SETTLE_SECONDS
        while time.monotonic() < deadline:
            if await messages.abort_settled(message_id=message.id):
                return
            await asyncio.sleep(0.05)
        await messages.settle_aborted(message_id=message.id)
