"""The Socket.IO gateway: authenticated sockets, conversation rooms, live replies, resume.

Handlers are thin: sending and aborting go through the same `ChatService` as REST, so a
message sent either way is stored once and streamed to every socket of the conversation on
every instance. Replies reach sockets through one ordered outbox per conversation, which
first appends the events to the replay buffer and then emits them to the room.

Access follows membership: a socket is in a conversation's room (or replays one of its
replies) only while its user may read the conversation. Whoever removes access announces it
on the control channel (`conversations.announce_access_lost`) and every instance takes its
sockets out; relayed `typing` re-checks access, and the presence heartbeat re-checks every
room of the instance, so a lost control message costs seconds, not a leak.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import socketio
from beanie import PydanticObjectId
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp

from models import Message, User
from realtime.delivery import (
    DeliveryFilter,
    LocalManager,
    RedisManager,
    conversation_room,
    user_room,
)
from realtime.limits import (
    EventLimiter,
    MemorySlots,
    RedisSlots,
    SocketSlots,
    TooManyEvents,
)
from realtime.presence import MemoryPresence, PresenceStore, RedisPresence
from realtime.replay import MemoryReplay, RedisReplay, ReplayStore
from realtime.schemas import (
    ACCESS_LOST_EVENT,
    AccessLostEvent,
    ConversationRef,
    MessageRef,
    RefreshPayload,
    ResumePayload,
    SendPayload,
    TypingPayload,
)
from server.chat.generation import ChatEvent, Generation
from server.chat.schemas import SendMessage
from server.chat.service import end_event, error_event
from server.config import Settings
from server.conversations import service as conversations
from server.conversations.schemas import MessagePublic
from server.conversations.service import AccessLossReason
from server.deps import authenticate
from server.errors import (
    AppError,
    Conflict,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    dependency_error,
    field_errors,
)
from server.state import AppState

log = logging.getLogger("starguide.realtime")

P = TypeVar("P", bound=BaseModel)
Handler = Callable[["_Session", P], Awaitable[dict[str, Any]]]

SOCKETIO_CHANNEL = "starguide:socketio"
# A replay with no new event for this long checks the stored reply (its instance may be gone).
_REPLAY_IDLE_SECONDS = 5.0
# After a replay ends, the room's late copies of that reply are still skipped for the socket.
_REPLAY_GRACE_SECONDS = 30.0


@dataclass(eq=False)
class _Session:
    sid: str
    user_id: str
    org_id: str
    family_id: str | None
    expires_at: float
    timer: asyncio.TimerHandle | None = None
    conversations: set[str] = field(default_factory=set)
    typing: dict[str, tuple[bool, float]] = field(default_factory=dict)
    replays: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    replay_conversations: dict[str, str] = field(default_factory=dict)  # reply -> conversation
    # Conversations whose access check is running, and a loss of access heard meanwhile.
    admitting: dict[str, int] = field(default_factory=dict)
    lost_while_admitting: dict[str, AccessLossReason] = field(default_factory=dict)
    closing: bool = False  # past the hard event limit, being disconnected


def _conversation_not_found() -> NotFound:
    return NotFound("Conversation not found.", code="conversation_not_found")


def _message_not_found() -> NotFound:
    return NotFound("Message not found.", code="message_not_found")


@dataclass(eq=False)
class _Outbox:
    events: list[ChatEvent] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


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
        self._state: AppState | None = None
        self._replay: ReplayStore = MemoryReplay(ttl_s=settings.socket_replay_ttl_seconds)
        self._presence: PresenceStore = MemoryPresence(ttl_s=settings.presence_ttl_seconds)
        self._events = EventLimiter(
            rate=settings.socket_event_rate_limit,
            disconnect_factor=settings.socket_event_disconnect_factor,
        )
        self._slots: SocketSlots = MemorySlots(cap=settings.socket_max_per_user)
        self._sessions: dict[str, _Session] = {}
        self._outboxes: dict[str, _Outbox] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._register()

    def asgi(self, app: ASGIApp) -> socketio.ASGIApp:
        """One ASGI app: Socket.IO at /socket.io, everything else (and the lifespan) to `app`."""
        return socketio.ASGIApp(self.sio, other_asgi_app=app, socketio_path="socket.io")

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self, state: AppState) -> None:
        self._state = state
        settings = self._settings
        if state.redis is not None:
            self._replay = RedisReplay(state.redis, ttl_s=settings.socket_replay_ttl_seconds)
            self._presence = RedisPresence(state.redis, ttl_s=settings.presence_ttl_seconds)
            self._slots = RedisSlots(
                state.redis, cap=settings.socket_max_per_user, ttl_s=settings.presence_ttl_seconds
            )
        state.chat.generations.add_listener(self._on_chat_event)
        state.chat.add_stored_listener(self._on_stored)
        state.cluster.on("disconnect_user", self._on_disconnect_user)
        state.cluster.on(conversations.ACCESS_LOST, self._on_access_lost)
        self._heartbeat = asyncio.create_task(self._refresh_presence(), name="presence")

    async def aclose(self) -> None:
        """After the chat service has stopped: its last events are flushed to the rooms."""
        for box in list(self._outboxes.values()):
            if box.task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(box.task), timeout=2.0)
        pending = [t for t in self._tasks if not t.done()]
        pending += [t for s in self._sessions.values() for t in s.replays.values()]
        if self._heartbeat is not None:
            pending.append(self._heartbeat)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for session in self._sessions.values():
            if session.timer is not None:
                session.timer.cancel()
        manager_task = getattr(self.sio.manager, "thread", None)
        if isinstance(manager_task, asyncio.Task):
            manager_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await manager_task
        await self._replay.aclose()

    @property
    def state(self) -> AppState:
        if self._state is None:
            raise AppError("The server is starting.", code="service_unavailable", status=503)
        return self._state

    # ---- notifications for other features (xp:gained, achievement:unlocked) ----------------
    async def to_user(self, user_id: str, event: str, data: dict[str, Any]) -> None:
        await self.sio.emit(event, data, room=user_room(user_id))

    # ---- registration ---------------------------------------------------------------------
    def _register(self) -> None:
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("*", self._unknown)
        self._event("conversation:join", ConversationRef, self._join)
        self._event("conversation:leave", ConversationRef, self._leave)
        self._event("message:send", SendPayload, self._send)
        self._event("message:abort", MessageRef, self._abort)
        self._event("stream:resume", ResumePayload, self._resume)
        self._event("typing", TypingPayload, self._typing)
        self._event("auth:refresh", RefreshPayload, self._refresh, auth_event=True)

    def _event(
        self, name: str, model: type[P], handler: Handler[P], *, auth_event: bool = False
    ) -> None:
        """Every event validates its payload and answers `{ok: true, ...}` or an error ack."""

        async def handle(sid: str, *args: Any) -> dict[str, Any]:
            session = self._sessions.get(sid)
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
                    self._spawn(self._end(sid, reason))
                return exc.to_ack()
            except Exception as exc:
                # MongoDB or Redis down: the ack REST's 503 would give (issue 14, outages).
                outage = dependency_error(exc)
                if outage is not None:
                    return outage.to_ack()
                log.exception("socket event failed", extra={"event": name})
                return {
                    "ok": False,
                    "error": {"code": "internal_error", "message": "The event failed."},
                }
            return {"ok": True, **result}

        self.sio.on(name, handle)

    async def _unknown(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        session = self._sessions.get(sid)
        refused = await self._limit(session) if session is not None else None
        if refused is not None:
            return refused
        return AppError("This event does not exist.", code="unknown_event").to_ack()

    async def _limit(self, session: _Session) -> dict[str, Any] | None:
        """Counts the event against the socket's rate; the error ack when it is refused."""
        try:
            await self._events.hit(session.sid)
        except TooManyEvents as exc:
            if not session.closing:
                session.closing = True
                log.warning("socket disconnected: too many events", extra={"sid": session.sid})
                # Spawned: this event's ack goes out first, then the disconnect.
                self._spawn(self.sio.disconnect(session.sid, ignore_queue=True))
            return exc.to_ack()
        except RateLimited as exc:
            return exc.to_ack()
        return None

    # ---- connection -----------------------------------------------------------------------
    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if isinstance(token, str) and token[:7].lower() == "bearer ":
            token = token[7:].strip()  # tolerated: some clients send the header's form
        if not isinstance(token, str) or not token:
            raise socketio.exceptions.ConnectionRefusedError(
                "An access token is required in auth.token.", {"code": "missing_token"}
            )
        try:
            user, claims = await authenticate(self.state, token)
        except AppError as exc:
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code}
            ) from None
        except Exception as exc:  # MongoDB down: refused like REST's 503 (issue 14, outages)
            outage = dependency_error(exc)
            if outage is None:
                raise
            raise socketio.exceptions.ConnectionRefusedError(
                outage.message, {"code": outage.code, "details": outage.details}
            ) from None
        session = _Session(
            sid=sid,
            user_id=str(user.id),
            org_id=str(user.org_id),
            family_id=claims.get("fid"),
            expires_at=float(claims["exp"]),
        )
        cap = self._settings.socket_max_per_user
        if not await self._slots.acquire(session.user_id, sid):
            raise socketio.exceptions.ConnectionRefusedError(
                f"This account already has {cap} open connections; close one first.",
                {"code": "too_many_sockets", "details": {"max_sockets": cap}},
            )
        self._sessions[sid] = session
        self.delivery.user_sids.setdefault(session.user_id, set()).add(sid)
        await self.sio.enter_room(sid, user_room(session.user_id))
        self._schedule_expiry(session)

    async def _disconnect(self, sid: str, *_: Any) -> None:
        session = self._sessions.pop(sid, None)
        if session is None:
            return
        if session.timer is not None:
            session.timer.cancel()
        for task in session.replays.values():
            task.cancel()
        self.delivery.forget(sid)
        sids = self.delivery.user_sids.get(session.user_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self.delivery.user_sids[session.user_id]
        for conversation_id in list(session.conversations):
            await self._forget(session, conversation_id)
        await self._events.forget(sid)
        try:
            await self._slots.release(session.user_id, sid)
        except Exception:  # Redis down: the slot lapses after PRESENCE_TTL_SECONDS anyway
            log.exception("releasing a socket slot failed")

    def _schedule_expiry(self, session: _Session) -> None:
        if session.timer is not None:
            session.timer.cancel()
        delay = max(0.0, session.expires_at - time.time())
        session.timer = asyncio.get_running_loop().call_later(
            delay, lambda: self._spawn(self._end(session.sid, "expired"))
        )

    async def _end(self, sid: str, reason: str) -> None:
        """Tells the client why, then disconnects it (it must log in or refresh again)."""
        if sid not in self._sessions:
            return
        await self.sio.emit("auth:expired", {"reason": reason}, to=sid, ignore_queue=True)
        await self.sio.disconnect(sid, ignore_queue=True)

    async def _on_disconnect_user(self, data: dict[str, Any]) -> None:
        user_id, family_id = str(data.get("user_id")), data.get("family_id")
        reason = str(data.get("reason") or "revoked")
        for sid in list(self.delivery.user_sids.get(user_id, ())):
            session = self._sessions.get(sid)
            if session is None:
                continue
            if family_id is None or session.family_id in (None, family_id):
                await self._end(sid, reason)

    async def _user(self, session: _Session) -> User:
        """Reloaded per event, like REST per request: a disabled user is refused at once."""
        user = await User.get(PydanticObjectId(session.user_id))
        if user is None or user.disabled:
            raise Unauthorized("The account is not available.", code="invalid_token")
        return user

    # ---- client events --------------------------------------------------------------------
    async def _join(self, session: _Session, payload: ConversationRef) -> dict[str, Any]:
        user = await self._user(session)
        async with self._admitting(session, payload.conversation_id) as conversation_id:
            conversation = await conversations.get_accessible(
                user=user, conversation_id=conversation_id
            )
            cursor = Message.get_pymongo_collection().find(
                {"conversation_id": conversation.id, "status": "streaming"}, {"_id": 1}
            )
            streaming = [str(doc["_id"]) async for doc in cursor]
            if conversation_id not in session.conversations:
                # Marked before entering the room: none of their tokens can arrive out of order.
                for message_id in streaming:
                    self.delivery.joined_midway.setdefault(message_id, set()).add(session.sid)
            await self._enter(session, conversation_id)
        return {
            "conversation_id": conversation_id,
            "online": await self._presence.online(conversation_id),
            "streaming": streaming,
        }

    async def _leave(self, session: _Session, payload: ConversationRef) -> dict[str, Any]:
        conversation_id = payload.conversation_id
        await self.sio.leave_room(session.sid, conversation_room(conversation_id))
        await self._forget(session, conversation_id)
        return {"conversation_id": conversation_id}

    async def _send(self, session: _Session, payload: SendPayload) -> dict[str, Any]:
        user = await self._user(session)
        chat = self.state.chat
        async with self._admitting(session, payload.conversation_id) as conversation_id:
            await conversations.get_accessible(user=user, conversation_id=conversation_id)
            # In the room before the message is stored, so this socket gets `message:new` too.
            await self._enter(session, conversation_id)
        exchange = await chat.send(
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

    async def _abort(self, session: _Session, payload: MessageRef) -> dict[str, Any]:
        user = await self._user(session)
        message = await self.state.chat.abort_reply(user=user, message_id=payload.message_id)
        return {"message": MessagePublic.from_doc(message).model_dump(mode="json")}

    async def _resume(self, session: _Session, payload: ResumePayload) -> dict[str, Any]:
        user = await self._user(session)
        message = await self.state.chat.find_message(user=user, message_id=payload.message_id)
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
        async with self._admitting(session, conversation_id, _message_not_found):
            # Checked again now that a loss of access would be heard (`find_message` was not).
            if not await self._may_access(session, conversation_id):
                raise _message_not_found()
            self._start_replay(session, message_id, conversation_id, payload.last_seq)
        return {"message_id": message_id, "status": "streaming"}

    def _start_replay(
        self, session: _Session, message_id: str, conversation_id: str, last_seq: int
    ) -> None:
        previous = session.replays.pop(message_id, None)
        if previous is not None:
            previous.cancel()
        self.delivery.replaying.setdefault(message_id, set()).add(session.sid)
        midway = self.delivery.joined_midway.get(message_id)
        if midway is not None:
            midway.discard(session.sid)  # the replay covers it now
        session.replay_conversations[message_id] = conversation_id
        session.replays[message_id] = asyncio.create_task(
            self._replay_to(session, message_id, last_seq), name=f"replay:{message_id}"
        )

    async def _typing(self, session: _Session, payload: TypingPayload) -> dict[str, Any]:
        conversation_id = payload.conversation_id
        if conversation_id not in session.conversations:
            raise Conflict("Join the conversation first.", code="not_joined")
        now = time.monotonic()
        previous = session.typing.get(conversation_id)
        if payload.is_typing:
            relay = (
                previous is None
                or not previous[0]
                or now - previous[1] >= self._settings.typing_debounce_seconds
            )
        else:
            relay = previous is not None and previous[0]
        if relay:
            # Only relayed events reach anyone, so only they pay for the check (at most one per
            # debounce window or change of state).
            if not await self._may_access(session, conversation_id):
                await self._lose(session, conversation_id, "revoked")
                raise _conversation_not_found()
            session.typing[conversation_id] = (payload.is_typing, now)
            await self.sio.emit(
                "typing",
                {
                    "conversation_id": conversation_id,
                    "user_id": session.user_id,
                    "is_typing": payload.is_typing,
                },
                room=conversation_room(conversation_id),
            )
        return {"relayed": relay}

    async def _refresh(self, session: _Session, payload: RefreshPayload) -> dict[str, Any]:
        user, claims = await authenticate(self.state, payload.token)
        if str(user.id) != session.user_id:
            raise Unauthorized("The token belongs to another account.", code="invalid_token")
        session.expires_at = float(claims["exp"])
        session.family_id = claims.get("fid")
        self._schedule_expiry(session)
        return {"expires_at": datetime.fromtimestamp(session.expires_at, UTC).isoformat()}

    # ---- rooms and presence ---------------------------------------------------------------
    async def _enter(self, session: _Session, conversation_id: str) -> None:
        await self.sio.enter_room(session.sid, conversation_room(conversation_id))
        if conversation_id in session.conversations:
            return
        session.conversations.add(conversation_id)
        if await self._presence.add(conversation_id, session.user_id, session.sid):
            await self._emit_presence(conversation_id, session.user_id, "online")

    async def _forget(self, session: _Session, conversation_id: str) -> None:
        session.typing.pop(conversation_id, None)
        if conversation_id not in session.conversations:
            return
        session.conversations.discard(conversation_id)
        await self._went_offline(session, conversation_id)

    async def _went_offline(self, session: _Session, conversation_id: str) -> None:
        if await self._presence.remove(conversation_id, session.user_id, session.sid):
            await self._emit_presence(conversation_id, session.user_id, "offline")

    async def _emit_presence(self, conversation_id: str, user_id: str, status: str) -> None:
        await self.sio.emit(
            "presence",
            {"conversation_id": conversation_id, "user_id": user_id, "status": status},
            room=conversation_room(conversation_id),
        )

    async def _refresh_presence(self) -> None:
        """The heartbeat: presence entries and socket slots, then the access re-check."""
        interval = max(1.0, self._settings.presence_ttl_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            sessions = list(self._sessions.values())
            entries = [
                (conversation_id, s.user_id, s.sid)
                for s in sessions
                for conversation_id in s.conversations
            ]
            try:
                await self._presence.refresh(entries)
                await self._slots.refresh((s.user_id, s.sid) for s in sessions)
            except Exception:
                log.exception("refreshing presence failed")
            try:
                await self._recheck_access(sessions)
            except Exception:
                log.exception("re-checking access to conversations failed")

    # ---- access follows membership --------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _admitting(
        self,
        session: _Session,
        raw_id: str,
        not_found: Callable[[], NotFound] = _conversation_not_found,
    ) -> AsyncIterator[str]:
        """Wraps an access check and what it allows (entering the room, starting a replay).

        A loss of access is announced after its database write. If the check read the
        conversation before that write, the announcement arrives after the check started, so
        it finds the socket either in the room (and takes it out) or still being admitted (and
        is remembered here, and undone on the way out): no interleaving leaves it inside."""
        conversation_id = str(conversations.parse_id(raw_id))
        session.admitting[conversation_id] = session.admitting.get(conversation_id, 0) + 1
        try:
            yield conversation_id
        finally:
            count = session.admitting.pop(conversation_id) - 1
            if count:
                session.admitting[conversation_id] = count
            lost = session.lost_while_admitting.get(conversation_id)
            if not count:
                session.lost_while_admitting.pop(conversation_id, None)
        if lost is not None:
            await self._lose(session, conversation_id, lost)
            raise not_found()

    async def _may_access(self, session: _Session, conversation_id: str) -> bool:
        return await conversations.can_access(
            user_id=session.user_id, org_id=session.org_id, conversation_id=conversation_id
        )

    async def _on_access_lost(self, data: dict[str, Any]) -> None:
        try:
            notice = conversations.AccessLost.model_validate(data)
        except ValidationError:
            log.warning("ignored a malformed access-lost message")
            return
        if notice.user_ids is None:
            sessions = list(self._sessions.values())
        else:
            sids = [sid for u in notice.user_ids for sid in self.delivery.user_sids.get(u, ())]
            sessions = [s for sid in sids if (s := self._sessions.get(sid)) is not None]
        for session in sessions:
            await self._lose(session, notice.conversation_id, notice.reason)

    async def _lose(
        self, session: _Session, conversation_id: str, reason: AccessLossReason
    ) -> None:
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
        tasks = [t for m in replays if (t := session.replays.get(m)) is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.sio.leave_room(session.sid, conversation_room(conversation_id))
        if joined:
            await self._went_offline(session, conversation_id)
        if session.sid in self._sessions:
            event = AccessLostEvent(conversation_id=conversation_id, reason=reason)
            await self.sio.emit(
                ACCESS_LOST_EVENT, event.model_dump(), to=session.sid, ignore_queue=True
            )

    async def _recheck_access(self, sessions: list[_Session]) -> None:
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
        access = await conversations.access_of({c for _, c in held})
        for session, conversation_id in held:
            entry = access.get(conversation_id)
            if entry is not None and entry.allows(user_id=session.user_id, org_id=session.org_id):
                continue
            if self._sessions.get(session.sid) is session:
                await self._lose(
                    session, conversation_id, "deleted" if entry is None else "revoked"
                )

    # ---- replies: outbox to the rooms, replay to one socket --------------------------------
    def _on_chat_event(self, generation: Generation, event: ChatEvent) -> None:
        self._enqueue(generation.conversation_id, event)

    def _on_stored(self, message: Message, author: User) -> None:
        public = MessagePublic.from_doc(message).model_dump(mode="json")
        self._enqueue(str(message.conversation_id), ChatEvent("message:new", public))

    def _enqueue(self, conversation_id: str, event: ChatEvent) -> None:
        box = self._outboxes.get(conversation_id)
        if box is None:
            box = self._outboxes[conversation_id] = _Outbox()
            box.task = asyncio.create_task(
                self._drain(conversation_id, box), name=f"outbox:{conversation_id}"
            )
        box.events.append(event)

    async def _drain(self, conversation_id: str, box: _Outbox) -> None:
        """Sends a conversation's events in order: to the replay buffer, then to the room."""
        room = conversation_room(conversation_id)
        try:
            while box.events:
                batch, box.events = box.events, []
                replies: dict[str, list[ChatEvent]] = {}
                for event in batch:
                    if event.name.startswith("assistant:"):
                        replies.setdefault(str(event.data["message_id"]), []).append(event)
                for message_id, events in replies.items():
                    try:
                        await self._replay.append(message_id, events)
                    except Exception:
                        log.exception("appending to the replay buffer failed")
                for event in batch:
                    try:
                        await self.sio.emit(event.name, event.data, room=room)
                    except Exception:
                        log.exception("emitting a chat event failed")
        finally:
            if self._outboxes.get(conversation_id) is box:
                del self._outboxes[conversation_id]

    async def _replay_to(self, session: _Session, message_id: str, last_seq: int) -> None:
        sid = session.sid
        try:
            await asyncio.sleep(0)  # the resume's ack goes out first
            async for event in self._replay.follow(
                message_id, after_seq=last_seq, idle_s=_REPLAY_IDLE_SECONDS
            ):
                if event is None:  # quiet: has the reply ended without us hearing of it?
                    stored = await Message.get(PydanticObjectId(message_id))
                    if stored is None:
                        return
                    if stored.status == "streaming":
                        continue
                    event = end_event(stored) if stored.status != "failed" else error_event(stored)
                await self.sio.emit(event.name, event.data, to=sid, ignore_queue=True)
                if event.name in ("assistant:end", "assistant:error"):
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
        session = self._sessions.get(sid)
        if session is not None and message_id in session.replays:
            return  # replaying it again
        sids = self.delivery.replaying.get(message_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self.delivery.replaying[message_id]

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
