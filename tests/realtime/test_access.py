"""Access follows membership: a socket whose user loses access to a conversation (left the
study group, the conversation deleted, removed by any other means) gets none of its events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import pytest

from tests.realtime.conftest import (
    Device,
    Learner,
    ServerProcess,
    add_member,
    leave_group,
    register,
    remove_member,
    study_group,
)

QUESTION = "Explain how enzymes lower activation energy, with one example from digestion."
LIVE = ("message:new", "assistant:start", "assistant:token", "assistant:end", "assistant:error")


@pytest.fixture(scope="module")
async def server(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServerProcess]:
    # A 5 s presence TTL puts the heartbeat (and its access re-check) at under 2 s; every
    # relayed `typing` checks access (the window is tested in test_gateway.py).
    process = ServerProcess(
        mongo_url=mongo_url,
        db=f"t_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path_factory.mktemp("access"),
        PRESENCE_TTL_SECONDS="5",
        TYPING_ACCESS_RECHECK_SECONDS="0",
        OFFLINE_TOKEN_DELAY_MS="40",
    )
    await process.start()
    yield process
    await process.stop()


async def joined(device: Device, conversation_id: str) -> Device:
    ack = await device.call("conversation:join", {"conversation_id": conversation_id})
    assert ack["ok"] is True, ack
    return device


async def send(device: Device, conversation_id: str) -> dict[str, Any]:
    ack = await device.call(
        "message:send",
        {
            "conversation_id": conversation_id,
            "client_message_id": uuid.uuid4().hex,
            "content": QUESTION,
        },
    )
    assert ack["ok"] is True, ack
    return ack


def live_events(device: Device) -> list[str]:
    return [event for event, _ in device.events if event in LIVE]


async def test_typing_after_losing_access_is_refused(
    server: ServerProcess, mongo_url: str, devices: Callable[[], Device]
) -> None:
    mentor, member, group = await study_group(server, mongo_url)
    conversation_id = group["conversation_id"]
    watcher = await joined(await devices().connect(server, mentor.access_token), conversation_id)
    typist = await joined(await devices().connect(server, member.access_token), conversation_id)

    # Removed without any announcement: only the check before relaying can notice.
    await remove_member(server, mongo_url, conversation_id, member.id)
    ack = await typist.call("typing", {"conversation_id": conversation_id, "is_typing": True})
    assert ack["ok"] is False
    assert ack["error"]["code"] == "conversation_not_found"
    lost = await typist.wait_for(lambda: typist.named("conversation:access_lost"))
    assert lost == [{"conversation_id": conversation_id, "reason": "revoked"}]
    again = await typist.call("typing", {"conversation_id": conversation_id, "is_typing": False})
    assert again["error"]["code"] == "not_joined"
    await asyncio.sleep(0.3)
    assert watcher.named("typing") == []


async def test_deleting_a_conversation_takes_every_socket_out_of_its_room(
    server: ServerProcess, mongo_url: str, devices: Callable[[], Device]
) -> None:
    owner, member = await register(server), await register(server)
    conversation_id = await owner.conversation()
    await add_member(server, mongo_url, conversation_id, member.id)
    owner_device = await joined(
        await devices().connect(server, owner.access_token), conversation_id
    )
    member_device = await joined(
        await devices().connect(server, member.access_token), conversation_id
    )

    async with server.rest() as client:
        response = await client.delete(f"/conversations/{conversation_id}", headers=owner.headers)
    assert response.status_code == 204
    expected = [{"conversation_id": conversation_id, "reason": "deleted"}]
    for device in (owner_device, member_device):
        assert await device.wait_for(partial(device.named, "conversation:access_lost")) == expected
    typing = await member_device.call(
        "typing", {"conversation_id": conversation_id, "is_typing": True}
    )
    assert typing["error"]["code"] == "not_joined"


async def test_a_missed_announcement_is_caught_by_the_heartbeat(
    server: ServerProcess, mongo_url: str, devices: Callable[[], Device]
) -> None:
    mentor, member, group = await study_group(server, mongo_url)
    conversation_id = group["conversation_id"]
    mentor_device = await joined(
        await devices().connect(server, mentor.access_token), conversation_id
    )
    member_device = await joined(
        await devices().connect(server, member.access_token), conversation_id
    )

    await remove_member(server, mongo_url, conversation_id, member.id)
    lost = await member_device.wait_for(
        lambda: member_device.named("conversation:access_lost"), timeout=10, what="the re-check"
    )
    assert lost == [{"conversation_id": conversation_id, "reason": "revoked"}]
    ack = await send(mentor_device, conversation_id)
    await mentor_device.wait_end(ack["assistant_message_id"])
    await asyncio.sleep(0.3)
    assert live_events(member_device) == []


async def test_leaving_stops_a_running_replay_and_refuses_a_new_resume(
    server: ServerProcess, mongo_url: str, devices: Callable[[], Device]
) -> None:
    mentor, member, group = await study_group(server, mongo_url)
    conversation_id, group_id = group["conversation_id"], group["id"]
    mentor_device = await joined(
        await devices().connect(server, mentor.access_token), conversation_id
    )
    ack = await send(mentor_device, conversation_id)
    reply_id = ack["assistant_message_id"]
    # The member follows the reply through `stream:resume` alone (not in the room).
    follower = await devices().connect(server, member.access_token)
    resume = await follower.call("stream:resume", {"message_id": reply_id, "last_seq": 0})
    assert resume["status"] == "streaming", resume
    await follower.wait_for(lambda: len(follower.tokens(reply_id)) >= 3, what="three tokens")

    await leave_group(server, member, group_id)
    lost = await follower.wait_for(lambda: follower.named("conversation:access_lost"))
    assert lost == [{"conversation_id": conversation_id, "reason": "left"}]
    seen = len(follower.tokens(reply_id))
    end = await mentor_device.wait_end(reply_id)
    assert end["status"] == "complete"
    await asyncio.sleep(0.3)
    assert len(follower.tokens(reply_id)) == seen
    assert follower.named("assistant:end") == []
    again = await follower.call("stream:resume", {"message_id": reply_id, "last_seq": seen})
    assert again["ok"] is False
    assert again["error"]["code"] == "message_not_found"


async def test_the_group_member_who_stays_keeps_getting_events(
    server: ServerProcess, mongo_url: str, devices: Callable[[], Device]
) -> None:
    """Only the leaver's sockets go: the same user's other conversations and other members
    are untouched."""
    mentor, member, group = await study_group(server, mongo_url)
    conversation_id = group["conversation_id"]
    own_conversation = await member.conversation()
    stayer: Learner = await register(server)
    async with server.rest() as client:
        joined_ = await client.post(
            "/groups/join", json={"invite_code": group["invite_code"]}, headers=stayer.headers
        )
        assert joined_.status_code == 200
    member_device = await joined(
        await devices().connect(server, member.access_token), conversation_id
    )
    await joined(member_device, own_conversation)
    stayer_device = await joined(
        await devices().connect(server, stayer.access_token), conversation_id
    )

    await leave_group(server, member, group["id"])
    await member_device.wait_for(lambda: member_device.named("conversation:access_lost"))
    mentor_device = await joined(
        await devices().connect(server, mentor.access_token), conversation_id
    )
    ack = await send(mentor_device, conversation_id)
    assert (await stayer_device.wait_end(ack["assistant_message_id"]))["status"] == "complete"
    own = await send(member_device, own_conversation)
    assert (await member_device.wait_end(own["assistant_message_id"]))["status"] == "complete"
    assert [m["conversation_id"] for m in member_device.named("message:new")] == [own_conversation]
