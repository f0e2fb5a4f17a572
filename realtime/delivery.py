"""Room delivery with two per-socket exceptions, applied where each instance delivers locally.

python-socketio sends a room emit to every member. Two events must skip some members:
- a socket replaying a reply with `stream:resume` gets that reply's events from its replay
  task only, in order and once, so the room's live copies are skipped for it;
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
        self.user_sids: dict[str, set[str]] = {}  # user id -> this instance's sids

    def skipped(self, event: str, data: Any, room: Any) -> set[str]:
        if not isinstance(room, str) or not room.startswith(CONVERSATION_ROOM_PREFIX):
            return set()
        if not isinstance(data, dict):
            return set()
        if event.startswith("assistant:"):
            return self.replaying.get(str(data.get("message_id")), set())
        if event == "typing":
            return self.user_sids.get(str(data.get("user_id")), set())
        return set()


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
