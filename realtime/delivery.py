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

from typing import Any

import socketio

CONVERSATION_ROOM_PREFIX = "conversation:"


def conversation_room(conversation_id: str) -> str:
    return f"{CONVERSATION_ROOM_PREFIX}{conversation_id}"


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


class DeliveryFilter:
    """This instance's view of which local sockets skip which room events."""

    def __init__(self) -> None:
        self.replaying: dict[str, set[str]] = {}  # reply id -> sids replaying it
        self.joined_midway: dict[str, set[str]] = {}  # reply id -> sids that joined mid-reply
        self.user_sids: dict[str, set[str]] = {}  # user id -> this instance's sids

    def skipped(self, event: str, data: Any, room: Any) -> set[str]:
        if not isinstance(room, str) or not room.startswith(CONVERSATION_ROOM_PREFIX):
            return set()
        if not isinstance(data, dict):
            return set()
        if event.startswith("assistant:"):
            message_id = str(data.get("message_id"))
            replaying = self.replaying.get(message_id, set())
            if event == "assistant:token":
                return replaying | self.joined_midway.get(message_id, set())
            if event in ("assistant:end", "assistant:error"):
                self.joined_midway.pop(message_id, None)  # nothing of it follows
            return replaying
        if event == "typing":
            return self.user_sids.get(str(data.get("user_id")), set())
        return set()

    def forget(self, sid: str) -> None:
        for table in (self.replaying, self.joined_midway):
            for message_id in [m for m, sids in table.items() if sid in sids]:
                table[message_id].discard(sid)
                if not table[message_id]:
                    del table[message_id]


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

    def __init__(self, url: str, delivery: DeliveryFilter, *, channel: str) -> None:
        super().__init__(url, channel=channel)
        self.delivery = delivery
