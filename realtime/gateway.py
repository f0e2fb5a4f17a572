"""The Socket.IO gateway: authenticated sockets, conversation rooms, live replies, resume.

This module wires the parts and is the one front door for client events: each is counted
against the socket's rate (realtime/limits.py), validated like a REST body (its `ClientEvent`
model in server/events.py) and answered `{ok: true, ...}` or the contract's error ack. The jobs
live beside it: sockets and logins (connections.py), rooms, presence, typing and access
(rooms.py), sending, aborting and resuming replies (replies.py), the ordered outbox per
conversation (outbox.py) and the heartbeat's re-checks (heartbeat.py), all sharing one `Hub`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import socketio
from pydantic import ValidationError
from starlette.types import ASGIApp

from realtime.connections import Connections
from realtime.delivery import DeliveryFilter, LocalManager, RedisManager, user_room
from realtime.heartbeat import Heartbeat
from realtime.hub import Hub, Session
from realtime.limits import RedisSlots, TooManyEvents
from realtime.outbox import Outboxes
from realtime.presence import RedisPresence
from realtime.replay import RedisReplay
from realtime.replies import Replies
from realtime.rooms import Rooms
from server.auth import sessions
from server.config import Settings
from server.conversations import service as conversations
from server.errors import (
    AppError,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    dependency_error,
    field_errors,
)
from server.events import (
    AuthRefresh,
    ClientEvent,
    ConversationJoin,
    ConversationLeave,
    MessageAbort,
    MessageSend,
    ServerEvent,
    StreamResume,
    TypingUpdate,
)
from server.state import AppState

log = logging.getLogger("starguide.realtime")

P = TypeVar("P", bound=ClientEvent)
Handler = Callable[[Session, P], Awaitable[dict[str, Any]]]

SOCKETIO_CHANNEL = "starguide:socketio"
# The control messages (server/cluster.py) the gateway acts on.


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.delivery = DeliveryFilter()
        manager: socketio.AsyncManager
        if settings.redis_url:
            manager = RedisManager(settings.redis_url, self.delivery, channel=SOCKETIO_CHANNEL)
        else:
            manager = LocalManager(self.delivery)
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins=list(settings.cors_origins),
            max_http_buffer_size=settings.socket_max_frame_bytes,
            logger=False,
            engineio_logger=False,
        )
        self._hub = Hub(settings, self.sio, self.delivery)
        self._connections = Connections(self._hub)
        self._rooms = Rooms(self._hub, self._connections)
        self._replies = Replies(self._hub, self._connections, self._rooms)
        self._outboxes = Outboxes(self._hub)
        self._heartbeat = Heartbeat(self._hub, self._connections, self._rooms)
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._register()

    def asgi(self, app: ASGIApp) -> socketio.ASGIApp:
        """One ASGI app: Socket.IO at /socket.io, everything else (and the lifespan) to `app`."""
        return socketio.ASGIApp(self.sio, other_asgi_app=app, socketio_path="socket.io")

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self, state: AppState) -> None:
        hub, settings = self._hub, self._settings
        hub.state = state
        if state.redis is not None:
            hub.replay = RedisReplay(state.redis, ttl_s=settings.socket_replay_ttl_seconds)
            hub.presence = RedisPresence(state.redis, ttl_s=settings.presence_ttl_seconds)
            hub.slots = RedisSlots(
                state.redis, cap=settings.socket_max_per_user, ttl_s=settings.presence_ttl_seconds
            )
        state.chat.generations.add_listener(self._outboxes.on_chat_event)
        state.chat.add_stored_listener(self._outboxes.on_stored)
        state.cluster.on(sessions.DISCONNECT_USER, self._connections.on_disconnect_user)
        state.cluster.on(conversations.ACCESS_LOST, self._rooms.on_access_lost)
        self._heartbeat_task = asyncio.create_task(self._heartbeat.run(), name="presence")

    async def aclose(self) -> None:
        """After the chat service has stopped: its last events are flushed to the rooms."""
        hub = self._hub
        await self._outboxes.flush()
        pending = [t for t in hub.tasks if not t.done()]
        pending += [t for s in hub.sessions.values() for t in s.replays.values()]
        if self._heartbeat_task is not None:
            pending.append(self._heartbeat_task)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for session in hub.sessions.values():
            if session.timer is not None:
                session.timer.cancel()
        manager_task = getattr(self.sio.manager, "thread", None)
        if isinstance(manager_task, asyncio.Task):
            manager_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await manager_task
        await hub.replay.aclose()

    @property
    def state(self) -> AppState:
        return self._hub.state

    # ---- notifications for other features (xp:gained, achievement:unlocked) ----------------
    async def to_user(self, user_id: str, event: ServerEvent) -> None:
        """To every socket of the user, on every instance (the features' `Notifier`)."""
        await self._hub.emit(event, room=user_room(user_id))

    # ---- registration ---------------------------------------------------------------------
    def _register(self) -> None:
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("*", self._unknown)
        self._event(ConversationJoin, self._rooms.join)
        self._event(ConversationLeave, self._rooms.leave)
        self._event(MessageSend, self._replies.send)
        self._event(MessageAbort, self._replies.abort)
        self._event(StreamResume, self._replies.resume)
        self._event(TypingUpdate, self._rooms.typing)
        self._event(AuthRefresh, self._connections.refresh, auth_event=True)

    def _event(self, model: type[P], handler: Handler[P], *, auth_event: bool = False) -> None:
        """Every event validates its payload and answers `{ok: true, ...}` or an error ack."""
        hub = self._hub

        async def handle(sid: str, *args: Any) -> dict[str, Any]:
            session = hub.sessions.get(sid)
            if session is None:
                return Unauthorized("The socket is not connected.").to_ack()
            refused = await self._limit(session)
            if refused is not None:
                return refused
            try:
                if not auth_event and time.time() >= session.expires_at:
                    raise Unauthorized("The access token has expired.", code="token_expired")
                payload = model.model_validate(args[0] if args else None)
                result = await handler(session, payload)
            except ValidationError as exc:
                errors = exc.errors(include_url=False, include_input=False, include_context=False)
                return ValidationFailed(details={"fields": field_errors(errors)}).to_ack()
            except AppError as exc:
                if exc.status == 401 and not auth_event:
                    reason = "expired" if exc.code == "token_expired" else "revoked"
                    hub.spawn(self._connections.end(sid, reason))
                return exc.to_ack()
            except Exception as exc:
                # MongoDB or Redis down: the ack REST's 503 would give (issue 14, outages).
                outage = dependency_error(exc)
                if outage is not None:
                    return outage.to_ack()
                log.exception("socket event failed", extra={"event": model.name})
                return {
                    "ok": False,
                    "error": {"code": "internal_error", "message": "The event failed."},
                }
            return {"ok": True, **result}

        self.sio.on(model.name, handle)

    async def _unknown(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        session = self._hub.sessions.get(sid)
        refused = await self._limit(session) if session is not None else None
        if refused is not None:
            return refused
        return AppError("This event does not exist.", code="unknown_event").to_ack()

    async def _limit(self, session: Session) -> dict[str, Any] | None:
        """Counts the event against the socket's rate; the error ack when it is refused."""
        try:
            await self._hub.events.hit(session.sid)
        except TooManyEvents as exc:
            if not session.closing:
                session.closing = True
                log.warning("socket disconnected: too many events", extra={"sid": session.sid})
                # Spawned: this event's ack goes out first, then the disconnect.
                self._hub.spawn(self.sio.disconnect(session.sid, ignore_queue=True))
            return exc.to_ack()
        except RateLimited as exc:
            return exc.to_ack()
        return None

    # ---- connection -----------------------------------------------------------------------
    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await self._connections.connect(sid, auth)

    async def _disconnect(self, sid: str, *_: Any) -> None:
        session = self._connections.disconnected(sid)
        if session is None:
            return
        await self._rooms.forget_all(session)
        await self._connections.release(session)
