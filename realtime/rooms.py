"""Conversation rooms: joining and leaving, presence, typing, and access following membership.

A socket is in a conversation's room (or replays one of its replies) only while its user may
read the conversation. Whoever removes access announces it on the control channel
(`conversations.announce_access_lost`) and every instance takes its sockets out; relayed
`typing` re-checks access (at most once per TYPING_ACCESS_RECHECK_SECONDS per socket and
conversation), and the heartbeat re-checks every room of the instance, so a lost
control message costs seconds, not a leak.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from pydantic import ValidationError

from realtime.connections import Connections
from realtime.delivery import conversation_room
from realtime.hub import Hub, Session
from server.conversations import messages
from server.conversations import service as conversations
from server.conversations.service import AccessLossReason
from server.errors import Conflict, NotFound
from server.events import (
    ConversationAccessLost,
    ConversationJoin,
    ConversationLeave,
    Presence,
    Typing,
    TypingUpdate,
)

log = logging.getLogger("starguide.realtime")


def conversation_not_found() -> NotFound:
    return NotFound("Conversation not found.", code="conversation_not_found")


class Rooms:
    def __init__(self, hub: Hub, connections: Connections) -> None:
        self._hub = hub
        self._connections = connections

    # ---- client events --------------------------------------------------------------------
    async def join(self, session: Session, payload: ConversationJoin) -> dict[str, Any]:
        user = await self._connections.user(session)
        async with self.admitting(session, payload.conversation_id) as conversation_id:
            checked_at = time.monotonic()
            conversation = await conversations.get_accessible(
                user=user, conversation_id=conversation_id
            )
            assert conversation.id is not None
            streaming = await messages.streaming_reply_ids(conversation_id=conversation.id)
            if conversation_id not in session.conversations:
                # Marked before entering the room: none of their tokens can arrive out of order.
                self._hub.delivery.joined_midway(streaming, session.sid)
            await self.enter(session, conversation_id, checked_at=checked_at)
        return {
            "conversation_id": conversation_id,
            "online": await self._hub.presence.online(conversation_id),
            "streaming": streaming,
        }

    async def leave(self, session: Session, payload: ConversationLeave) -> dict[str, Any]:
        conversation_id = payload.conversation_id
        await self._hub.sio.leave_room(session.sid, conversation_room(conversation_id))
        await self.forget(session, conversation_id)
        return {"conversation_id": conversation_id}

    async def typing(self, session: Session, payload: TypingUpdate) -> dict[str, Any]:
        conversation_id = payload.conversation_id
        if conversation_id not in session.conversations:
            raise Conflict("Join the conversation first.", code="not_joined")
        now = time.monotonic()
        previous = session.typing.get(conversation_id)
        if payload.is_typing:
            relay = (
                previous is None
                or not previous[0]
                or now - previous[1] >= self._hub.settings.typing_debounce_seconds
            )
        else:
            relay = previous is not None and previous[0]
        if relay:
            # Only relayed events reach anyone, so only they pay for the check, and only when
            # this socket's last finding is older than TYPING_ACCESS_RECHECK_SECONDS (an
            # announced loss of access has taken the socket out of the room already).
            seen = session.access_seen.get(conversation_id)
            if seen is None or now - seen >= self._hub.settings.typing_access_recheck_seconds:
                if not await self.may_access(session, conversation_id):
                    await self.lose(session, conversation_id, "revoked")
                    raise conversation_not_found()
                if conversation_id in session.conversations:
                    session.access_seen[conversation_id] = now
            session.typing[conversation_id] = (payload.is_typing, now)
            event = Typing(
                conversation_id=conversation_id,
                user_id=session.user_id,
                is_typing=payload.is_typing,
            )
            await self._hub.emit(event, room=conversation_room(conversation_id))
        return {"relayed": relay}

    # ---- rooms and presence ---------------------------------------------------------------
    async def enter(self, session: Session, conversation_id: str, *, checked_at: float) -> None:
        """Puts the socket in the room; `checked_at` is when its access check began."""
        seen = session.access_seen.get(conversation_id, checked_at)
        session.access_seen[conversation_id] = max(seen, checked_at)
        await self._hub.sio.enter_room(session.sid, conversation_room(conversation_id))
        if conversation_id in session.conversations:
            return
        session.conversations.add(conversation_id)
        if await self._hub.presence.add(conversation_id, session.user_id, session.sid):
            await self._emit_presence(conversation_id, session.user_id, "online")

    async def forget(self, session: Session, conversation_id: str) -> None:
        session.typing.pop(conversation_id, None)
        session.access_seen.pop(conversation_id, None)
        if conversation_id not in session.conversations:
            return
        session.conversations.discard(conversation_id)
        await self._went_offline(session, conversation_id)

    async def forget_all(self, session: Session) -> None:
        """A disconnected socket's rooms (the server leaves them itself)."""
        for conversation_id in list(session.conversations):
            await self.forget(session, conversation_id)

    async def _went_offline(self, session: Session, conversation_id: str) -> None:
        if await self._hub.presence.remove(conversation_id, session.user_id, session.sid):
            await self._emit_presence(conversation_id, session.user_id, "offline")

    async def _emit_presence(
        self, conversation_id: str, user_id: str, status: Literal["online", "offline"]
    ) -> None:
        event = Presence(conversation_id=conversation_id, user_id=user_id, status=status)
        await self._hub.emit(event, room=conversation_room(conversation_id))

    # ---- access follows membership --------------------------------------------------------
    @contextlib.asynccontextmanager
    async def admitting(
        self,
        session: Session,
        raw_id: str,
        not_found: Callable[[], NotFound] = conversation_not_found,
    ) -> AsyncIterator[str]:
        """Wraps an access check and what it allows (entering the room, starting a replay).

        A loss of access is announced after its database write. If the check read the
        conversation before that write, the announcement arrives after the check started, so
        it finds the socket either in the room (and takes it out) or still being admitted (and
        is remembered here, and undone on the way out): no interleaving leaves it inside.
        A check that finds access gone takes the socket out too, if it was in (a join or send
        again on a conversation it lost unannounced), as the heartbeat's re-check would."""
        conversation_id = str(conversations.parse_id(raw_id))
        session.admitting[conversation_id] = session.admitting.get(conversation_id, 0) + 1
        denied = False
        try:
            yield conversation_id
        except NotFound:
            denied = True
            raise
        finally:
            count = session.admitting.pop(conversation_id) - 1
            if count:
                session.admitting[conversation_id] = count
            lost = session.lost_while_admitting.get(conversation_id)
            if not count:
                session.lost_while_admitting.pop(conversation_id, None)
            if denied and lost is None:
                await self.lose(session, conversation_id, "revoked")
        if lost is not None:
            await self.lose(session, conversation_id, lost)
            raise not_found()

    async def may_access(self, session: Session, conversation_id: str) -> bool:
        return await conversations.can_access(
            user_id=session.user_id, org_id=session.org_id, conversation_id=conversation_id
        )

    async def on_access_lost(self, data: dict[str, Any]) -> None:
        """The control message: these users (or everyone) lost access to a conversation."""
        try:
            notice = conversations.AccessLost.model_validate(data)
        except ValidationError:
            log.warning("ignored a malformed access-lost message")
            return
        hub = self._hub
        if notice.user_ids is None:
            sessions = list(hub.sessions.values())
        else:
            sids = [sid for u in notice.user_ids for sid in hub.delivery.sids_of(u)]
            sessions = [s for sid in sids if (s := hub.sessions.get(sid)) is not None]
        for session in sessions:
            await self.lose(session, notice.conversation_id, notice.reason)

    async def lose(self, session: Session, conversation_id: str, reason: AccessLossReason) -> None:
        """Takes one socket out of a conversation: its room, its replays of the conversation's
        replies and its presence; then tells it why. What it holds is claimed before the first
        await, so two concurrent calls (an announcement and a re-check) act once."""
        if conversation_id in session.admitting:
            session.lost_while_admitting[conversation_id] = reason
        joined = conversation_id in session.conversations
        replays = [m for m, c in session.replay_conversations.items() if c == conversation_id]
        if not joined and not replays:
            return
        for message_id in replays:
            del session.replay_conversations[message_id]
        session.conversations.discard(conversation_id)
        session.typing.pop(conversation_id, None)
        session.access_seen.pop(conversation_id, None)
        tasks = [t for m in replays if (t := session.replays.get(m)) is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._hub.sio.leave_room(session.sid, conversation_room(conversation_id))
        if joined:
            await self._went_offline(session, conversation_id)
        if session.sid in self._hub.sessions:
            event = ConversationAccessLost(conversation_id=conversation_id, reason=reason)
            await self._hub.emit(event, to=session.sid, local=True)

    async def recheck_access(self, sessions: list[Session]) -> None:
        """The durable fallback of the announcements (delivered at most once): every room and
        replay of this instance's sockets, checked in one query. Only what was there before
        the query is judged, so a socket admitted meanwhile is not judged on older data."""
        held = [
            (session, conversation_id)
            for session in sessions
            for conversation_id in {*session.conversations, *session.replay_conversations.values()}
        ]
        if not held:
            return
        checked_at = time.monotonic()
        access = await conversations.access_of({c for _, c in held})
        for session, conversation_id in held:
            entry = access.get(conversation_id)
            if entry is not None and entry.allows(user_id=session.user_id, org_id=session.org_id):
                if conversation_id in session.conversations:
                    seen = session.access_seen.get(conversation_id, checked_at)
                    session.access_seen[conversation_id] = max(seen, checked_at)
                continue
            if self._hub.current(session):
                await self.lose(session, conversation_id, "deleted" if entry is None else "revoked")
