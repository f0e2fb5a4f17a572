"""Socket limits on one instance: events per socket (soft, then a disconnect) and open sockets
per user (the cap across instances is in test_cluster.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import socketio

from tests.realtime.conftest import Device, ServerProcess, add_member, register

RATE = 10  # events per second per socket; the disconnect comes past 3 times that


@pytest.fixture(scope="module")
async def server(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServerProcess]:
    process = ServerProcess(
        mongo_url=mongo_url,
        db=f"t_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path_factory.mktemp("limits"),
        SOCKET_EVENT_RATE_LIMIT=f"{RATE}/second",
        SOCKET_EVENT_DISCONNECT_FACTOR="3",
        SOCKET_MAX_PER_USER="2",
        TYPING_DEBOUNCE_SECONDS="0",
    )
    await process.start()
    yield process
    await process.stop()


async def test_a_burst_of_events_is_answered_rate_limited_then_let_through_again(
    server: ServerProcess, devices: Callable[[], Device]
) -> None:
    learner = await register(server)
    conversation_id = await learner.conversation()
    device = await devices().connect(server, learner.access_token)
    payload = {"conversation_id": conversation_id}
    acks = await asyncio.gather(
        *(device.call("conversation:join", payload) for _ in range(RATE + 5))
    )
    assert sum(1 for a in acks if a["ok"]) == RATE
    refused = [a for a in acks if not a["ok"]]
    assert len(refused) == 5
    for ack in refused:
        assert ack["error"]["code"] == "rate_limited"
        assert ack["error"]["message"]
        assert ack["error"]["details"]["retry_after"] >= 1

    await asyncio.sleep(refused[0]["error"]["details"]["retry_after"])
    assert (await device.call("conversation:join", payload))["ok"] is True
    assert device.sio.connected  # below the hard limit: refused, not disconnected


async def test_a_flood_of_typing_is_cut_off_and_the_socket_disconnected(
    server: ServerProcess, mongo_url: str, devices: Callable[[], Device]
) -> None:
    owner, member = await register(server), await register(server)
    conversation_id = await owner.conversation()
    await add_member(server, mongo_url, conversation_id, member.id)
    typist = await devices().connect(server, owner.access_token)
    friend = await devices().connect(server, member.access_token)
    for device in (typist, friend):
        assert (await device.call("conversation:join", {"conversation_id": conversation_id}))["ok"]

    acks: list[dict[str, Any]] = []
    started = time.monotonic()
    for n in range(1000):
        if not typist.sio.connected:
            break
        try:
            await typist.sio.emit(
                "typing",
                {"conversation_id": conversation_id, "is_typing": n % 2 == 0},
                callback=acks.append,
            )
        except socketio.exceptions.BadNamespaceError:
            break
    async with asyncio.timeout(10):
        await typist.disconnected.wait()
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.3)

    relayed = friend.named("typing")
    # At most the soft limit per second got through, not a thousand.
    assert 0 < len(relayed) <= RATE * (int(elapsed) + 2)
    limited = [a for a in acks if not a["ok"]]
    assert limited and all(a["error"]["code"] == "rate_limited" for a in limited)
    assert friend.sio.connected  # only the flooding socket goes


async def test_connections_beyond_the_per_user_cap_are_refused(
    server: ServerProcess, devices: Callable[[], Device]
) -> None:
    learner, other = await register(server), await register(server)
    first = await devices().connect(server, learner.access_token)
    await devices().connect(server, learner.access_token)

    refused = devices()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(server, learner.access_token)
    error = refused.connect_errors[0]
    assert error["data"] == {"code": "too_many_sockets", "details": {"max_sockets": 2}}
    assert (await devices().connect(server, other.access_token)).sio.connected

    await first.close()
    deadline = time.monotonic() + 5
    while True:
        retry = devices()
        try:
            await retry.connect(server, learner.access_token)
            break
        except socketio.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                pytest.fail(f"the slot was not given back: {retry.connect_errors}")
            await asyncio.sleep(0.1)
    assert retry.sio.connected
