"""`Hub.emit` in one process: an emit to a room with no socket of this process is dropped
before the event is serialised (every token of a reply read over SSE went to an empty room)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import socketio

from realtime.delivery import DeliveryFilter, LocalManager
from realtime.hub import Hub
from server.events import AssistantError, AssistantToken
from tests.conftest import make_settings

ROOM = "conversation:0123456789abcdef01234567"


class CountedToken(AssistantToken):
    serialised: ClassVar[int] = 0

    def payload(self) -> dict[str, Any]:
        type(self).serialised += 1
        return super().payload()


async def test_an_emit_no_socket_here_can_receive_is_not_serialised(tmp_path: Path) -> None:
    delivery = DeliveryFilter()
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=LocalManager(delivery))
    hub = Hub(make_settings("mongodb://127.0.0.1:1", tmp_path), sio, delivery)
    token = CountedToken(message_id="m1", seq=1, delta="hello")

    await hub.emit(token, room=ROOM)
    await hub.emit(token, to="no-such-sid")
    assert CountedToken.serialised == 0

    manager = sio.manager
    sid = await manager.connect("eio-1", "/")  # python-socketio's own table, no engine.io socket
    await manager.enter_room(sid, "/", ROOM)
    await hub.emit(token, room=ROOM)  # sent (engine.io finds no socket and drops it)
    assert CountedToken.serialised == 1
    await hub.emit(token, to=sid)
    assert CountedToken.serialised == 2

    await manager.leave_room(sid, "/", ROOM)
    await hub.emit(token, room=ROOM)
    assert CountedToken.serialised == 2


async def test_a_dropped_reply_end_still_forgets_who_joined_it_midway(tmp_path: Path) -> None:
    """A socket that joined mid-reply and left before its end: the end, dropped for the empty
    room, still clears the reply from the delivery filter (it reached the filter before)."""
    delivery = DeliveryFilter()
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=LocalManager(delivery))
    hub = Hub(make_settings("mongodb://127.0.0.1:1", tmp_path), sio, delivery)
    manager = sio.manager
    sid = await manager.connect("eio-1", "/")
    await manager.enter_room(sid, "/", ROOM)
    delivery.joined_midway(["m1"], sid)
    await manager.leave_room(sid, "/", ROOM)

    end = AssistantError(message_id="m1", conversation_id=ROOM[13:], code="x", message="x")
    await hub.emit(end, room=ROOM)
    assert delivery.skipped(AssistantToken.name, {"message_id": "m1"}, ROOM) == set()
