"""Room delivery with per-socket exceptions, applied where each instance delivers locally.

python-socketio sends a room emit to every member. Some events must skip some members:
- a socket replaying a reply with `stream:resume` gets that reply's events from its replay
  task only, in order and once, so the room's live copies are skipped for it;
- a socket that joined a conversation while a reply was streaming does not get that reply's
  tokens from the room (it starts mid-way, so they would have a gap); it gets its end, or all
  of it in order once it resumes the reply;
- `typing` never goes back to the typist's own sockets.

Every instance applies this when it delivers to its own sockets, which is the only place that
knows them. The managers below put the check into `AsyncManager.emit`, the local delivery step:
`AsyncPubSubManager` calls it both for emits made here and for those arriving through Redis.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio

from realtime.outages import OutageLog
from server.events import (
    TERMINAL_EVENTS,
    AssistantEnd,
    AssistantError,
    AssistantReset,
    AssistantStart,
    AssistantToken,
    Typing,
)

log = logging.getLogger("starguide.realtime")

CONVERSATION_ROOM_PREFIX = "conversation:"
_REPLY_EVENTS = frozenset(
    e.name for e in (AssistantStart, AssistantToken, AssistantReset, AssistantEnd, AssistantError)
)


def conversation_room(conversation_id: str) -> str:
    return f"{CONVERSATION_ROOM_PREFIX}{conversation_id}"


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


class DeliveryFilter:
    """This instance's view of which local sockets skip which room events.

    Its tables change only through the methods below (the gateway's sockets connect and
    disconnect, join mid-reply, start and end replays), so that a table never keeps an empty
    set or a socket that is gone."""

    def __init__(self) -> None:
        self._replaying: dict[str, set[str]] = {}  # reply id -> sids replaying it
        self._joined_midway: dict[str, set[str]] = {}  # reply id -> sids that joined mid-reply
        self._user_sids: dict[str, set[str]] = {}  # user id -> this instance's sids

    # ---- this instance's sockets of each user ---------------------------------------------
    def connected(self, user_id: str, sid: str) -> None:
        self._user_sids.setdefault(user_id, set()).add(sid)

    def sids_of(self, user_id: str) -> list[str]:
        """A copy: the caller may disconnect sockets while it goes through them."""
        return list(self._user_sids.get(user_id, ()))

    def disconnected(self, user_id: str, sid: str) -> None:
        """Forgets the socket everywhere: its user's sockets and every reply it skipped."""
        _discard(self._user_sids, user_id, sid)
        for table in (self._replaying, self._joined_midway):
            for message_id in [m for m, sids in table.items() if sid in sids]:
                _discard(table, message_id, sid)

    # ---- replies the socket must not get from the room ------------------------------------
    def joined_midway(self, message_ids: list[str], sid: str) -> None:
        """The socket joined while these replies streamed: their tokens would have a gap."""
        for message_id in message_ids:
            self._joined_midway.setdefault(message_id, set()).add(sid)

    def replay_started(self, message_id: str, sid: str) -> None:
        """The socket gets this reply from its replay task only (which covers any gap)."""
        self._replaying.setdefault(message_id, set()).add(sid)
        _discard(self._joined_midway, message_id, sid)

    def replay_ended(self, message_id: str, sid: str) -> None:
        _discard(self._replaying, message_id, sid)

    # ---- applied at delivery ----------------------------------------------------------------
    def skipped(self, event: str, data: Any, room: Any) -> set[str]:
        if not isinstance(room, str) or not room.startswith(CONVERSATION_ROOM_PREFIX):
            return set()
        if not isinstance(data, dict):
            return set()
        if event in _REPLY_EVENTS:
            message_id = str(data.get("message_id"))
            replaying = self._replaying.get(message_id, set())
            if event == AssistantToken.name:
                return replaying | self._joined_midway.get(message_id, set())
            if event in TERMINAL_EVENTS:
                self._joined_midway.pop(message_id, None)  # nothing of it follows
            return replaying
        if event == Typing.name:
            return self._user_sids.get(str(data.get("user_id")), set())
        return set()


def _discard(table: dict[str, set[str]], key: str, sid: str) -> None:
    sids = table.get(key)
    if sids is not None:
        sids.discard(sid)
        if not sids:
            del table[key]


class _FilteredDelivery(socketio.AsyncManager):
    delivery: DeliveryFilter

    async def emit(  # type: ignore[override]
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> Any:
        skipped = self.delivery.skipped(event, data, to or room)
        if skipped:
            given = skip_sid if isinstance(skip_sid, list) else [skip_sid] if skip_sid else []
            skip_sid = [*given, *skipped]
        return await super().emit(
            event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs
        )


class LocalManager(_FilteredDelivery):
    """One process: rooms in memory."""

    def __init__(self, delivery: DeliveryFilter) -> None:
        super().__init__()
        self.delivery = delivery


class RedisManager(socketio.AsyncRedisManager, _FilteredDelivery):  # type: ignore[misc]
    """Several instances: emits travel through Redis pub/sub, then each delivers locally."""

    connected: bool  # python-socketio's: whether `redis` is a live connection

    def __init__(self, url: str, delivery: DeliveryFilter, *, channel: str) -> None:
        super().__init__(url, channel=channel)
        self.delivery = delivery
        self._outage = OutageLog(log, "publishing socket emits to Redis")

    async def _publish(self, data: Any) -> Any:
        """python-socketio's own, logging once per outage: its version logs two errors, with
        Redis's host and port, for every emit (each token of a reply) while Redis is away.
        As there, a failed emit is tried once more on a new connection, then dropped: a
        resumed client replays what it missed."""
        for retries_left in (1, 0):
            try:
                if not self.connected:
                    self._redis_connect()
                published = await self.redis.publish(self.channel, self.json.dumps(data))
            except Exception as exc:
                self.connected = False
                if not retries_left:
                    self._outage.failed(exc)
            else:
                self._outage.succeeded()
                return published
        return None
