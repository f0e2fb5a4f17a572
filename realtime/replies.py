"""Chat over the socket: sending and aborting through the same `ChatService` as REST, and
`stream:resume`, which replays one reply to one socket from the replay buffer (what it missed,
then live) while the room's copies of that reply are skipped for it."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from beanie import PydanticObjectId

from realtime.connections import Connections
from realtime.hub import Hub, Session
from realtime.rooms import Rooms
from server.chat.schemas import SendMessage
from server.conversations import messages
from server.conversations import service as conversations
from server.conversations.schemas import MessagePublic
from server.errors import Conflict, NotFound
from server.events import TERMINAL_EVENTS, MessageAbort, MessageSend, StreamResume, final_event

log = logging.getLogger("starguide.realtime")

# A replay with no new event for this long checks the stored reply (its instance may be gone).
_REPLAY_IDLE_SECONDS = 5.0
# After a replay ends, the room's late copies of that reply are still skipped for the socket.
_REPLAY_GRACE_SECONDS = 30.0


def message_not_found() -> NotFound:
    return NotFound("Message not found.", code="message_not_found")


class Replies:
    def __init__(self, hub: Hub, connections: Connections, rooms: Rooms) -> None:
        self._hub = hub
        self._connections = connections
        self._rooms = rooms

    async def send(self, session: Session, payload: MessageSend) -> dict[str, Any]:
        user = await self._connections.user(session)
        async with self._rooms.admitting(session, payload.conversation_id) as conversation_id:
            checked_at = time.monotonic()
            await conversations.get_accessible(user=user, conversation_id=conversation_id)
            # In the room before the message is stored, so this socket gets `message:new` too.
            await self._rooms.enter(session, conversation_id, checked_at=checked_at)
        exchange = await self._hub.state.chat.send(
            user=user,
            conversation_id=conversation_id,
            body=SendMessage(
                content=payload.content,
                client_message_id=payload.client_message_id,
                provider=payload.provider,
            ),
        )
        return {
            "message_id": str(exchange.user_message.id),
            "assistant_message_id": str(exchange.assistant_message.id),
            "conversation_id": conversation_id,
            "duplicate": not exchange.created,
        }

    async def abort(self, session: Session, payload: MessageAbort) -> dict[str, Any]:
        user = await self._connections.user(session)
        message = await self._hub.state.chat.abort_reply(user=user, message_id=payload.message_id)
        return {"message": MessagePublic.from_doc(message).model_dump(mode="json")}

    async def resume(self, session: Session, payload: StreamResume) -> dict[str, Any]:
        user = await self._connections.user(session)
        message = await self._hub.state.chat.find_message(user=user, message_id=payload.message_id)
        if message.role != "assistant":
            raise Conflict("Only an assistant reply can be resumed.", code="not_resumable")
        message_id = str(message.id)
        if message.status != "streaming":
            return {
                "message_id": message_id,
                "status": message.status,
                "message": MessagePublic.from_doc(message).model_dump(mode="json"),
            }
        conversation_id = str(message.conversation_id)
        async with self._rooms.admitting(session, conversation_id, message_not_found):
            # Checked again now that a loss of access would be heard (`find_message` was not).
            if not await self._rooms.may_access(session, conversation_id):
                raise message_not_found()
            self._start_replay(session, message_id, conversation_id, payload.last_seq)
        return {"message_id": message_id, "status": "streaming"}

    def _start_replay(
        self, session: Session, message_id: str, conversation_id: str, last_seq: int
    ) -> None:
        previous = session.replays.pop(message_id, None)
        if previous is not None:
            previous.cancel()
        self._hub.delivery.replay_started(message_id, session.sid)
        session.replay_conversations[message_id] = conversation_id
        session.replays[message_id] = asyncio.create_task(
            self._replay_to(session, message_id, last_seq), name=f"replay:{message_id}"
        )

    async def _replay_to(self, session: Session, message_id: str, last_seq: int) -> None:
        sid = session.sid
        try:
            await asyncio.sleep(0)  # the resume's ack goes out first
            async for event in self._hub.replay.follow(
                message_id, after_seq=last_seq, idle_s=_REPLAY_IDLE_SECONDS
            ):
                if event is None:  # quiet: has the reply ended without us hearing of it?
                    stored = await messages.get_message(PydanticObjectId(message_id))
                    if stored is None:
                        return
                    if stored.status == "streaming":
                        continue
                    event = final_event(stored)
                await self._hub.emit(event, to=sid, local=True)
                if event.name in TERMINAL_EVENTS:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("replaying a reply failed")
        finally:
            if session.replays.get(message_id) is asyncio.current_task():
                del session.replays[message_id]
                session.replay_conversations.pop(message_id, None)
                asyncio.get_running_loop().call_later(
                    _REPLAY_GRACE_SECONDS, self._unmark_replay, message_id, sid
                )

    def _unmark_replay(self, message_id: str, sid: str) -> None:
        session = self._hub.sessions.get(sid)
        if session is not None and message_id in session.replays:
            return  # replaying it again
        self._hub.delivery.replay_ended(message_id, sid)
