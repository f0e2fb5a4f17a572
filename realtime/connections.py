"""Sockets and their login: admission (token, per-user socket cap), expiry and refresh, and
ending a user's sockets (logout, disabling) on every instance.

An account is checked again at each event (`user`, like REST per request) and, for sockets
that send nothing, on the heartbeat (`end_unavailable`): a disabled user's sockets are ended
even if the control message that should have ended them was lost."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import socketio
from beanie import PydanticObjectId

from models import User
from realtime.delivery import user_room
from realtime.hub import Hub, Session
from server import metrics
from server.deps import authenticate
from server.errors import AppError, Unauthorized, dependency_error
from server.events import AuthExpired, AuthRefresh
from server.users import service as users

log = logging.getLogger("starguide.realtime")


def _refused(exc: AppError) -> socketio.exceptions.ConnectionRefusedError:
    data: dict[str, Any] = {"code": exc.code}
    if exc.details:
        data["details"] = exc.details
    return socketio.exceptions.ConnectionRefusedError(exc.message, data)


class Connections:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def connect(self, sid: str, auth: Any) -> Session:
        """Admits a socket, or raises the refusal the client gets as `connect_error`. An
        outage of MongoDB or Redis, at any step, is refused like REST's 503."""
        token = auth.get("token") if isinstance(auth, dict) else None
        if isinstance(token, str) and token[:7].lower() == "bearer ":
            token = token[7:].strip()  # tolerated: some clients send the header's form
        if not isinstance(token, str) or not token:
            raise socketio.exceptions.ConnectionRefusedError(
                "An access token is required in auth.token.", {"code": "missing_token"}
            )
        try:
            return await self._admit(sid, token)
        except AppError as exc:
            raise _refused(exc) from None
        except Exception as exc:
            outage = dependency_error(exc)
            if outage is None:
                raise
            raise _refused(outage) from None

    async def _admit(self, sid: str, token: str) -> Session:
        hub = self._hub
        user, claims = await authenticate(hub.state, token)
        session = Session(
            sid=sid,
            user_id=str(user.id),
            org_id=str(user.org_id),
            family_id=claims.get("fid"),
            expires_at=float(claims["exp"]),
        )
        cap = hub.settings.socket_max_per_user
        if not await hub.slots.acquire(session.user_id, sid):
            raise AppError(
                f"This account already has {cap} open connections; close one first.",
                code="too_many_sockets",
                status=429,
                details={"max_sockets": cap},
            )
        hub.sessions[sid] = session
        metrics.socket_opened()
        hub.delivery.connected(session.user_id, sid)
        await hub.sio.enter_room(sid, user_room(session.user_id))
        self.schedule_expiry(session)
        return session

    def disconnected(self, sid: str) -> Session | None:
        """Forgets the socket; the session it had (its rooms are still to be left)."""
        hub = self._hub
        session = hub.sessions.pop(sid, None)
        if session is None:
            return None
        metrics.socket_closed()
        if session.timer is not None:
            session.timer.cancel()
        for task in session.replays.values():
            task.cancel()
        hub.delivery.disconnected(session.user_id, sid)
        return session

    async def release(self, session: Session) -> None:
        """The socket's counters and slot, last (a slot frees the user to connect again)."""
        await self._hub.events.forget(session.sid)
        try:
            await self._hub.slots.release(session.user_id, session.sid)
        except Exception:  # Redis down: the slot lapses after PRESENCE_TTL_SECONDS anyway
            log.warning("releasing a socket slot failed; it lapses on its own")

    def schedule_expiry(self, session: Session) -> None:
        if session.timer is not None:
            session.timer.cancel()
        delay = max(0.0, session.expires_at - time.time())
        session.timer = asyncio.get_running_loop().call_later(
            delay, lambda: self._hub.spawn(self.end(session.sid, "expired"))
        )

    async def end(self, sid: str, reason: str) -> None:
        """Tells the client why, then disconnects it (it must log in or refresh again)."""
        if sid not in self._hub.sessions:
            return
        await self._hub.emit(AuthExpired(reason=reason), to=sid, local=True)
        await self._hub.sio.disconnect(sid, ignore_queue=True)

    async def on_disconnect_user(self, data: dict[str, Any]) -> None:
        """The control message ending a user's sockets (one login session's, or all)."""
        user_id, family_id = str(data.get("user_id")), data.get("family_id")
        reason = str(data.get("reason") or "revoked")
        for sid in self._hub.delivery.sids_of(user_id):
            session = self._hub.sessions.get(sid)
            if session is None:
                continue
            if family_id is None or session.family_id in (None, family_id):
                await self.end(sid, reason)

    async def user(self, session: Session) -> User:
        """Reloaded per event, like REST per request: a disabled user is refused at once."""
        user = await users.cached_user(user_id=PydanticObjectId(session.user_id))
        if user is None or user.disabled:
            raise Unauthorized("The account is not available.", code="invalid_token")
        return user

    async def refresh(self, session: Session, payload: AuthRefresh) -> dict[str, Any]:
        user, claims = await authenticate(self._hub.state, payload.token)
        if str(user.id) != session.user_id:
            raise Unauthorized("The token belongs to another account.", code="invalid_token")
        session.expires_at = float(claims["exp"])
        session.family_id = claims.get("fid")
        self.schedule_expiry(session)
        return {"expires_at": datetime.fromtimestamp(session.expires_at, UTC).isoformat()}

    async def end_unavailable(self, sessions: list[Session]) -> None:
        """The heartbeat's fallback for a lost `disconnect_user`: every socket whose account
        is disabled or gone is ended, found with one query for all of them."""
        # Grouped by user: thousands of sockets usually belong to far fewer accounts, and each
        # id is parsed once (not twice per socket, every heartbeat).
        by_user: dict[str, list[Session]] = {}
        for session in sessions:
            by_user.setdefault(session.user_id, []).append(session)
        if not by_user:
            return
        disabled = await users.disabled_by_id(user_ids=[PydanticObjectId(u) for u in by_user])
        for user_id, held in by_user.items():
            flag = disabled.get(PydanticObjectId(user_id))
            if flag is False:
                continue
            for session in held:
                if self._hub.current(session):
                    await self.end(session.sid, "revoked" if flag is None else "disabled")
