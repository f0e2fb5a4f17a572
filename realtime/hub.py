"""What every part of the gateway shares: the Socket.IO server, this instance's sockets, the
stores backing them, and the one way an event reaches a client (`Hub.emit`, a typed event)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import socketio
from socketio.async_pubsub_manager import AsyncPubSubManager

from realtime.delivery import DeliveryFilter
from realtime.limits import EventLimiter, MemorySlots, SocketSlots
from realtime.presence import MemoryPresence, PresenceStore
from realtime.replay import MemoryReplay, ReplayStore
from server.config import Settings
from server.conversations.service import AccessLossReason
from server.errors import AppError
from server.events import TERMINAL_EVENTS, ServerEvent
from server.state import AppState


@dataclass(eq=False)
class Session:
    """One authenticated socket of this instance."""

    sid: str
    user_id: str
    org_id: str
    family_id: str | None
    expires_at: float
    timer: asyncio.TimerHandle | None = None
    conversations: set[str] = field(default_factory=set)
    typing: dict[str, tuple[bool, float]] = field(default_factory=dict)
    # When access to each joined conversation was last found (monotonic, taken before the
    # check read the database): a relayed `typing` reuses a recent one.
    access_seen: dict[str, float] = field(default_factory=dict)
    replays: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    replay_conversations: dict[str, str] = field(default_factory=dict)  # reply -> conversation
    # Conversations whose access check is running, and a loss of access heard meanwhile.
    admitting: dict[str, int] = field(default_factory=dict)
    lost_while_admitting: dict[str, AccessLossReason] = field(default_factory=dict)
    closing: bool = False  # past the hard event limit, being disconnected


class Hub:
    """Handed to each part of the gateway, so that none of them reaches into another."""

    def __init__(
        self, settings: Settings, sio: socketio.AsyncServer, delivery: DeliveryFilter
    ) -> None:
        self.settings = settings
        self.sio = sio
        self.delivery = delivery
        self.sessions: dict[str, Session] = {}
        # In memory until `start` finds Redis (one process needs nothing shared).
        self.replay: ReplayStore = MemoryReplay(ttl_s=settings.socket_replay_ttl_seconds)
        self.presence: PresenceStore = MemoryPresence(ttl_s=settings.presence_ttl_seconds)
        self.slots: SocketSlots = MemorySlots(cap=settings.socket_max_per_user)
        self.events = EventLimiter(
            rate=settings.socket_event_rate_limit,
            disconnect_factor=settings.socket_event_disconnect_factor,
        )
        self.tasks: set[asyncio.Task[Any]] = set()
        self._state: AppState | None = None
        # Whether an emit may reach sockets of other instances (through Redis).
        self._shared = isinstance(sio.manager, AsyncPubSubManager)

    @property
    def state(self) -> AppState:
        if self._state is None:
            raise AppError("The server is starting.", code="service_unavailable", status=503)
        return self._state

    @state.setter
    def state(self, state: AppState) -> None:
        self._state = state

    def current(self, session: Session) -> bool:
        """Whether the socket is still connected (a session object outlives its socket)."""
        return self.sessions.get(session.sid) is session

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs work after the current handler (its ack goes out first); `aclose` ends it."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def emit(
        self,
        event: ServerEvent,
        *,
        room: str | None = None,
        to: str | None = None,
        local: bool = False,
    ) -> None:
        """The one way an event leaves the gateway. `local` skips the cross-instance queue,
        for a socket of this instance (its own replay, its own disconnect notice).

        An emit that can only be delivered here, to a room with no socket here, is dropped
        before the event is serialised: python-socketio would encode the packet and find no
        one (one process without Redis streams every reply's tokens to its conversation's room,
        empty when the learner reads over SSE). Judged at the moment python-socketio would
        judge it (no await between), so no socket that would have got it misses it. A reply's
        end (one per reply) still goes on: the delivery filter forgets the reply when it sees it."""
        target = to or room
        if (
            target is not None
            and (local or not self._shared)
            and event.name not in TERMINAL_EVENTS
            and not self._holds(target)
        ):
            return
        await self.sio.emit(event.name, event.payload(), room=room, to=to, ignore_queue=local)

    def _holds(self, room: str) -> bool:
        """Whether a socket of this instance is in `room` (python-socketio's room table, the
        one its own `get_participants` reads, without copying it)."""
        return bool(self.sio.manager.rooms.get("/", {}).get(room))
