"""Two instances behind one Redis and one database: a learner's devices on either instance."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import socketio
from redis.asyncio import Redis

from tests.realtime.conftest import (
    Device,
    Learner,
    ServerProcess,
    add_member,
    assert_stream,
    leave_group,
    register,
    study_group,
)

QUESTION = "Derive the time period of a simple pendulum and say where the approximation fails."


@pytest.fixture(scope="module")
async def pair(
    mongo_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    db = f"t_{uuid.uuid4().hex[:12]}"
    # Partial text is saved every 30 s here, so a prompt cross-instance abort can only come
    # from the control channel, not from the owner noticing the stored status at a flush.
    # At most 3 sockets per user, counted across both instances.
    env = {
        "REDIS_URL": redis_url,
        "CHAT_FLUSH_SECONDS": "30",
        "OFFLINE_TOKEN_DELAY_MS": "40",
        "SOCKET_MAX_PER_USER": "3",
    }
    a = ServerProcess(mongo_url=mongo_url, db=db, data_dir=tmp_path_factory.mktemp("a"), **env)
    b = ServerProcess(mongo_url=mongo_url, db=db, data_dir=tmp_path_factory.mktemp("b"), **env)
    await asyncio.gather(a.start(), b.start())
    yield a, b
    await asyncio.gather(a.stop(), b.stop())


async def laptop_on_a_phone_on_b(
    pair: tuple[ServerProcess, ServerProcess], devices: Callable[[], Device]
) -> tuple[Learner, str, Device, Device]:
    """One learner, one conversation; a laptop on instance A, a phone on B that joined it."""
    a, b = pair
    learner = await register(a)
    conversation_id = await learner.conversation()
    laptop = await devices().connect(a, learner.access_token)
    phone = await devices().connect(b, learner.access_token)
    assert (await phone.call("conversation:join", {"conversation_id": conversation_id}))["ok"]
    return learner, conversation_id, laptop, phone


async def test_send_on_one_instance_streams_to_the_other(
    pair: tuple[ServerProcess, ServerProcess], devices: Callable[[], Device]
) -> None:
    learner, conversation_id, laptop, phone = await laptop_on_a_phone_on_b(pair, devices)
    ack = await laptop.call(
        "message:send",
        {"conversation_id": conversation_id, "client_message_id": "c1", "content": QUESTION},
    )
    reply_id = ack["assistant_message_id"]
    for device in (laptop, phone):
        end = await device.wait_end(reply_id)
        assert end["status"] == "complete"
        assert_stream(device, reply_id, end)
        assert [m["id"] for m in device.named("message:new")] == [ack["message_id"]]
    # A re-send through the other instance is the same stored message.
    again = await phone.call(
        "message:send",
        {"conversation_id": conversation_id, "client_message_id": "c1", "content": QUESTION},
    )
    assert again["duplicate"] is True and again["message_id"] == ack["message_id"]
    assert len(await learner.messages(conversation_id)) == 2


async def test_abort_from_the_other_instance_stops_the_generation_at_once(
    pair: tuple[ServerProcess, ServerProcess], devices: Callable[[], Device]
) -> None:
    learner, conversation_id, laptop, phone = await laptop_on_a_phone_on_b(pair, devices)
    ack = await laptop.call(
        "message:send", {"conversation_id": conversation_id, "content": QUESTION}
    )
    reply_id = ack["assistant_message_id"]
    await phone.wait_for(lambda: len(phone.tokens(reply_id)) >= 3, what="three tokens on B")

    started = time.monotonic()
    abort = await phone.call("message:abort", {"message_id": reply_id})
    assert abort["ok"] is True, abort
    assert abort["message"]["status"] == "aborted"
    end = await phone.wait_end(reply_id, timeout=5)
    assert time.monotonic() - started < 3  # not the 30 s flush: the owner was told directly
    assert end["status"] == "aborted"
    # The owner saved exactly what it had streamed, and stopped streaming.
    await laptop.wait_end(reply_id)
    count = len(laptop.tokens(reply_id))
    await asyncio.sleep(0.5)
    assert len(laptop.tokens(reply_id)) == count
    assert_stream(laptop, reply_id, end)
    stored = (await learner.messages(conversation_id))[1]
    assert stored["status"] == "aborted"
    assert stored["content"] == end["content"] == abort["message"]["content"]
    assert stored["content"]  # some text had streamed before the abort


async def test_resume_on_the_other_instance_replays_from_redis(
    pair: tuple[ServerProcess, ServerProcess], redis_url: str, devices: Callable[[], Device]
) -> None:
    a, b = pair
    learner = await register(a)
    conversation_id = await learner.conversation()
    phone = await devices().connect(a, learner.access_token)
    ack = await phone.call(
        "message:send", {"conversation_id": conversation_id, "content": QUESTION}
    )
    reply_id = ack["assistant_message_id"]
    await phone.wait_for(lambda: len(phone.tokens(reply_id)) >= 4, what="four tokens")
    await phone.sio.eio.disconnect(abort=True)
    seen = phone.tokens(reply_id)

    # The reconnect lands on the other instance, which never generated this reply.
    back = await devices().connect(b, learner.access_token)
    resume = await back.call("stream:resume", {"message_id": reply_id, "last_seq": seen[-1]["seq"]})
    assert resume["status"] == "streaming", resume
    end = await back.wait_end(reply_id)
    rest = back.tokens(reply_id)
    assert rest[0]["seq"] == seen[-1]["seq"] + 1
    assert [t["seq"] for t in rest] == list(range(rest[0]["seq"], rest[0]["seq"] + len(rest)))
    assert "".join(t["delta"] for t in seen + rest) == end["content"]

    redis = Redis.from_url(redis_url)
    try:
        ttl = await redis.ttl(f"starguide:replay:{reply_id}")
        assert 0 < ttl <= 600  # the buffer outlives the reply for a while, then goes
    finally:
        await redis.aclose()


async def test_logout_through_one_instance_disconnects_sockets_on_the_other(
    pair: tuple[ServerProcess, ServerProcess], devices: Callable[[], Device]
) -> None:
    a, b = pair
    learner = await register(a)
    device = await devices().connect(b, learner.access_token)
    async with a.rest() as client:
        response = await client.post("/auth/logout", json={"refresh_token": learner.refresh_token})
    assert response.status_code == 204
    async with asyncio.timeout(10):
        await device.disconnected.wait()
    assert device.named("auth:expired") == [{"reason": "logged_out"}]


async def test_typing_crosses_instances_but_not_back_to_the_typist(
    pair: tuple[ServerProcess, ServerProcess], mongo_url: str, devices: Callable[[], Device]
) -> None:
    a, b = pair
    owner, member = await register(a), await register(a)
    conversation_id = await owner.conversation()
    await add_member(a, mongo_url, conversation_id, member.id)
    typist = await devices().connect(a, owner.access_token)
    own_phone = await devices().connect(b, owner.access_token)
    friend = await devices().connect(b, member.access_token)
    for device in (typist, own_phone, friend):
        assert (await device.call("conversation:join", {"conversation_id": conversation_id}))["ok"]
    await typist.call("typing", {"conversation_id": conversation_id, "is_typing": True})
    relayed = await friend.wait_for(lambda: friend.named("typing"), what="typing on B")
    assert relayed == [{"conversation_id": conversation_id, "user_id": owner.id, "is_typing": True}]
    await asyncio.sleep(0.3)
    assert own_phone.named("typing") == []
    joined = await friend.call("conversation:join", {"conversation_id": conversation_id})
    assert set(joined["online"]) == {owner.id, member.id}  # presence spans both instances


async def test_leaving_a_group_on_one_instance_cuts_the_socket_off_on_the_other(
    pair: tuple[ServerProcess, ServerProcess], mongo_url: str, devices: Callable[[], Device]
) -> None:
    a, b = pair
    mentor, member, group = await study_group(a, mongo_url, member_server=b)
    conversation_id = group["conversation_id"]
    mentor_device = await devices().connect(a, mentor.access_token)
    member_device = await devices().connect(b, member.access_token)
    for device in (mentor_device, member_device):
        assert (await device.call("conversation:join", {"conversation_id": conversation_id}))["ok"]

    await leave_group(a, member, group["id"])
    lost = await member_device.wait_for(
        lambda: member_device.named("conversation:access_lost"), timeout=5, what="access_lost on B"
    )
    assert lost == [{"conversation_id": conversation_id, "reason": "left"}]
    offline = await mentor_device.wait_for(
        lambda: [
            p
            for p in mentor_device.named("presence")
            if p["user_id"] == member.id and p["status"] == "offline"
        ],
        what="the leaver going offline",
    )
    assert offline == [
        {"conversation_id": conversation_id, "user_id": member.id, "status": "offline"}
    ]

    before = len(member_device.events)
    ack = await mentor_device.call(
        "message:send", {"conversation_id": conversation_id, "content": QUESTION}
    )
    await mentor_device.call("typing", {"conversation_id": conversation_id, "is_typing": True})
    assert (await mentor_device.wait_end(ack["assistant_message_id"]))["status"] == "complete"
    await asyncio.sleep(0.5)
    assert member_device.events[before:] == []
    typing = await member_device.call(
        "typing", {"conversation_id": conversation_id, "is_typing": True}
    )
    assert typing["ok"] is False and typing["error"]["code"] == "not_joined"
    rejoin = await member_device.call("conversation:join", {"conversation_id": conversation_id})
    assert rejoin["error"]["code"] == "conversation_not_found"


async def test_the_socket_cap_counts_a_users_sockets_on_every_instance(
    pair: tuple[ServerProcess, ServerProcess], devices: Callable[[], Device]
) -> None:
    a, b = pair
    learner, other = await register(a), await register(a)
    first = await devices().connect(a, learner.access_token)
    await devices().connect(b, learner.access_token)
    await devices().connect(a, learner.access_token)

    refused = devices()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(b, learner.access_token)
    error = refused.connect_errors[0]
    assert error["data"] == {"code": "too_many_sockets", "details": {"max_sockets": 3}}
    assert "3 open connections" in error["message"]
    assert (await devices().connect(b, other.access_token)).sio.connected  # per user

    await first.close()  # its slot is given back through Redis, for the other instance too
    deadline = time.monotonic() + 5
    while True:
        retry = devices()
        try:
            await retry.connect(b, learner.access_token)
            break
        except socketio.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                pytest.fail(f"the slot was not released: {retry.connect_errors}")
            await asyncio.sleep(0.1)
    assert retry.sio.connected
