"""Replies reach sockets through one ordered outbox per conversation: each batch of events is
first appended to the replay buffer (so a `stream:resume` finds it), then emitted to the room.
A message sent by REST or by a socket, on any instance, is streamed to every socket of the
conversation on every instance this way."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from models import Message, User
from realtime.delivery import conversation_room
from realtime.hub import Hub
from realtime.outages import OutageLog
from server.chat.generation import COALESCE_SECONDS, Generation
from server.conversations.schemas import MessagePublic
from server.events import (
    AssistantEnd,
    AssistantError,
    AssistantReset,
    AssistantStart,
    AssistantToken,
    MessageNew,
    ServerEvent,
)

log = logging.getLogger("starguide.realtime")

# The events of one reply: what the replay buffer keeps.
_ReplyEvent = AssistantStart | AssistantToken | AssistantReset | AssistantEnd | AssistantError


@dataclass(eq=False)
class _Box:
    events: list[ServerEvent] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class Outboxes:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._boxes: dict[str, _Box] = {}
        # One report per outage of each step, not one per batch (issue 14).
        self._buffer_outage = OutageLog(log, "appending to the replay buffer")
        self._emit_outage = OutageLog(log, "emitting chat events to the rooms")

    def on_chat_event(self, generation: Generation, event: ServerEvent) -> None:
        """Every event of every reply generated on this instance."""
        self._enqueue(generation.conversation_id, event)

    def on_stored(self, message: Message, author: User) -> None:
        """Every learner message stored on this instance."""
        event = MessageNew(message=MessagePublic.from_doc(message))
        self._enqueue(str(message.conversation_id), event)

    async def flush(self, wait_s: float = 2.0) -> None:
        """Waits (a while) for the events queued so far to go out."""
        for box in list(self._boxes.values()):
            if box.task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(box.task), timeout=wait_s)

    def _enqueue(self, conversation_id: str, event: ServerEvent) -> None:
        box = self._boxes.get(conversation_id)
        if box is None:
            box = self._boxes[conversation_id] = _Box()
            box.task = asyncio.create_task(
                self._drain(conversation_id, box), name=f"outbox:{conversation_id}"
            )
        box.events.append(event)

    async def _drain(self, conversation_id: str, box: _Box) -> None:
        """Sends a conversation's events in order: to the replay buffer, then to the room."""
        room = conversation_room(conversation_id)
        try:
            while box.events:
                batch, box.events = box.events, []
                if len(batch) == 1 and isinstance(batch[0], AssistantToken):
                    # A lone token: let the tokens of the next moment join it (one replay
                    # append, one task, for several), as SSE does (COALESCE_SECONDS).
                    await asyncio.sleep(COALESCE_SECONDS)
                    batch, box.events = batch + box.events, []
                await self._buffer(batch)
                for event in batch:
                    try:
                        await self._hub.emit(event, room=room)
                    except Exception as exc:
                        self._emit_outage.failed(exc)
                    else:
                        self._emit_outage.succeeded()
        finally:
            if self._boxes.get(conversation_id) is box:
                del self._boxes[conversation_id]

    async def _buffer(self, batch: list[ServerEvent]) -> None:
        replies: dict[str, list[ServerEvent]] = {}
        for event in batch:
            if isinstance(event, _ReplyEvent):
                replies.setdefault(event.message_id, []).append(event)
        for message_id, events in replies.items():
            try:
                await self._hub.replay.append(message_id, events)
            except Exception as exc:
                self._buffer_outage.failed(exc)
            else:
                self._buffer_outage.succeeded()
