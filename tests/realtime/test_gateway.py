"""The gateway on one instance (no Redis): auth, rooms, streaming, resume, abort, limits."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import socketio

from server.auth.tokens import TokenCodec
from tests.conftest import TEST_JWT_SECRET
from tests.realtime.conftest import (
    Device,
    Learner,
    ServerProcess,
    add_member,
    assert_stream,
    register,
    remove_member,
    set_role,
    study_group,
)

QUESTION = "Explain Newton's second law with a worked example of a block on an incline."
TYPING_RECHECK_S = 1.5


@pytest.fixture(scope="module")
async def server(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServerProcess]:
    process = ServerProcess(
        mongo_url=mongo_url,
        db=f"t_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path_factory.mktemp("gateway"),
        CHAT_RATE_LIMIT="4/minute",
        TYPING_ACCESS_RECHECK_SECONDS=str(TYPING_RECHECK_S),
    )
    await process.start()
    yield process
    await process.stop()


@pytest.fixture
async def learner(server: ServerProcess) -> Learner:
    return await register(server)


def short_lived_token(user_id: str, seconds: int, family: str | None = None) -> str:
    codec = TokenCodec(
        secret=TEST_JWT_SECRET,
        issuer="starguide",
        audience="starguide-api",
        access_ttl_seconds=seconds,
        refresh_ttl_seconds=60,
    )
    extra = {"fid": family} if family else {}
    return codec.issue(subject=user_id, token_type="access", **extra).token


async def send(device: Device, conversation_id: str, content: str = QUESTION) -> dict[str, Any]:
    ack = await device.call(
        "message:send",
        {
            "conversation_id": conversation_id,
            "client_message_id": uuid.uuid4().hex,
            "content": content,
        },
    )
    assert ack["ok"] is True, ack
    return ack


# ---- connecting ----------------------------------------------------------------------------
async def test_connect_without_token_is_refused(
    server: ServerProcess, devices: Callable[[], Device]
) -> None:
    device = devices()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await device.connect(server, None)
    assert device.connect_errors[0]["data"]["code"] == "missing_token"


@pytest.mark.parametrize(
    ("token", "code"),
    [("not-a-jwt", "invalid_token"), ("expired", "token_expired"), ("refresh", "invalid_token")],
)
async def test_connect_with_bad_token_is_refused(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device], token: str, code: str
) -> None:
    if token == "expired":
        token = short_lived_token(learner.id, -5)
    elif token == "refresh":
        token = learner.refresh_token
    device = devices()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await device.connect(server, token)
    assert device.connect_errors[0]["data"]["code"] == code
    assert not device.sio.connected


async def test_token_in_the_bearer_form_is_accepted(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    device = await devices().connect(server, f"Bearer {learner.access_token}")
    join = await device.call("conversation:join", {"conversation_id": await learner.conversation()})
    assert join["ok"] is True


async def test_foreign_origin_is_refused_and_listed_origin_accepted(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    stranger = devices()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await stranger.connect(server, learner.access_token, origin="http://evil.test")
    assert not stranger.sio.connected
    friend = await devices().connect(server, learner.access_token)
    assert friend.sio.connected


async def test_a_browser_client_on_long_polling_then_websocket_works(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    """socket.io-client's default: HTTP long-polling first, then the websocket upgrade."""
    conversation_id = await learner.conversation()
    browser = await devices().connect(
        server, learner.access_token, transports=("polling", "websocket")
    )
    ack = await send(browser, conversation_id, "What is the unit of impulse?")
    end = await browser.wait_end(ack["assistant_message_id"])
    assert_stream(browser, ack["assistant_message_id"], end)
    stranger = devices()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await stranger.connect(
            server, learner.access_token, origin="http://evil.test", transports=("polling",)
        )


async def test_unknown_event_and_bad_payloads_get_error_acks(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    device = await devices().connect(server, learner.access_token)
    unknown = await device.call("message:edit", {"message_id": "x"})
    assert unknown == {
        "ok": False,
        "error": {"code": "unknown_event", "message": unknown["error"]["message"]},
    }
    conversation_id = await learner.conversation()
    bad = [
        ("conversation:join", None),
        ("conversation:join", "just-a-string"),
        ("conversation:join", {"conversation_id": conversation_id, "extra": 1}),
        ("conversation:join", {"conversation_id": {"$ne": None}}),
        ("message:abort", {"message_id": {"$gt": ""}}),
        ("auth:refresh", {"token": {"$exists": True}}),
        ("message:send", {"conversation_id": conversation_id, "content": "   "}),
        ("message:send", {"conversation_id": conversation_id, "content": "x" * 8001}),
        ("message:send", {"conversation_id": conversation_id, "content": "hi", "provider": "x"}),
        ("message:send", {"conversation_id": conversation_id, "content": 5}),
        ("stream:resume", {"message_id": "abc", "last_seq": -1}),
        ("typing", {"conversation_id": conversation_id, "is_typing": "yes"}),
    ]
    for event, payload in bad:
        ack = await device.call(event, payload)
        assert ack["ok"] is False, (event, payload)
        assert ack["error"]["code"] == "validation_error", (event, ack)
        assert ack["error"]["details"]["fields"], ack
    # Nothing was stored by the refused sends.
    assert await learner.messages(conversation_id) == []


# ---- rooms ---------------------------------------------------------------------------------
async def test_joining_another_users_conversation_is_refused(
    server: ServerProcess, devices: Callable[[], Device]
) -> None:
    owner, intruder = await register(server), await register(server)
    conversation_id = await owner.conversation()
    device = await devices().connect(server, intruder.access_token)
    for target in (conversation_id, "0" * 24, "not-an-id"):
        ack = await device.call("conversation:join", {"conversation_id": target})
        assert ack["ok"] is False
        assert ack["error"]["code"] == "conversation_not_found"
    # Sending into it or resuming its replies is refused the same way.
    ack = await device.call(
        "message:send", {"conversation_id": conversation_id, "content": "let me in"}
    )
    assert ack["error"]["code"] == "conversation_not_found"
    typing = await device.call("typing", {"conversation_id": conversation_id, "is_typing": True})
    assert typing["error"]["code"] == "not_joined"


async def test_send_streams_to_every_joined_device_and_nobody_else(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    other = await register(server)
    conversation_id = await learner.conversation()
    laptop = await devices().connect(server, learner.access_token)
    phone = await devices().connect(server, learner.access_token)
    idle = await devices().connect(server, learner.access_token)  # connected, never joined
    outsider = await devices().connect(server, other.access_token)
    await outsider.call("conversation:join", {"conversation_id": await other.conversation()})
    join = await phone.call("conversation:join", {"conversation_id": conversation_id})
    assert join == {
        "ok": True,
        "conversation_id": conversation_id,
        "online": [learner.id],
        "streaming": [],
    }

    ack = await send(laptop, conversation_id)
    assert set(ack) == {"ok", "message_id", "assistant_message_id", "conversation_id", "duplicate"}
    assert ack["duplicate"] is False
    reply_id = ack["assistant_message_id"]
    for device in (laptop, phone):
        end = await device.wait_end(reply_id)
        assert end["status"] == "complete"
        assert_stream(device, reply_id, end)
        new = device.named("message:new")
        assert [m["id"] for m in new] == [ack["message_id"]]
        assert new[0]["content"] == QUESTION and new[0]["role"] == "user"
        names = [name for name, _ in device.events if name.startswith(("assistant:", "message:"))]
        assert names[0] == "message:new" and names[1] == "assistant:start"
        assert names[-1] == "assistant:end"
        start = device.named("assistant:start", reply_id)[0]
        assert start["conversation_id"] == conversation_id and start["provider"] == "offline"
    assert laptop.named("assistant:end") == phone.named("assistant:end")
    await asyncio.sleep(0.3)
    # No conversation traffic for the idle device; its user's own progress events
    # (`xp:gained`, `achievement:unlocked`) go to every device of the user by design.
    user_events = ("presence", "xp:gained", "achievement:unlocked")
    assert [e for e, _ in idle.events if e not in user_events] == []
    assert outsider.events == [] or all(e == "presence" for e, _ in outsider.events)
    assert not any(d.get("user_id") == learner.id for _, d in outsider.events)

    stored = await learner.messages(conversation_id)
    assert [(m["role"], m["status"]) for m in stored] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert stored[1]["content"] == end["content"]


async def test_resending_a_client_message_id_stores_one_copy(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    conversation_id = await learner.conversation()
    device = await devices().connect(server, learner.access_token)
    body = {
        "conversation_id": conversation_id,
        "client_message_id": "cm-1",
        "content": "What is pH?",
    }
    first = await device.call("message:send", body)
    second = await device.call("message:send", body)
    assert first["ok"] and second["ok"]
    assert second["message_id"] == first["message_id"]
    assert second["assistant_message_id"] == first["assistant_message_id"]
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    await device.wait_end(first["assistant_message_id"])
    assert len(await learner.messages(conversation_id)) == 2
    assert len(device.named("message:new")) == 1


async def test_rest_send_reaches_joined_sockets(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    conversation_id = await learner.conversation()
    device = await devices().connect(server, learner.access_token)
    await device.call("conversation:join", {"conversation_id": conversation_id})
    async with server.rest() as client:
        response = await client.post(
            f"/conversations/{conversation_id}/messages",
            json={"content": "Why is the sky blue?", "client_message_id": "rest-1"},
            headers=learner.headers,
        )
    assert response.status_code == 201
    reply = response.json()["assistant_message"]
    end = await device.wait_end(reply["id"])
    assert end["content"] == reply["content"]
    assert_stream(device, reply["id"], end)
    assert [m["client_message_id"] for m in device.named("message:new")] == ["rest-1"]


# ---- resume and abort ----------------------------------------------------------------------
async def test_resume_after_a_forced_disconnect_sends_exactly_what_was_missed(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    conversation_id = await learner.conversation()
    first = await devices().connect(server, learner.access_token)
    ack = await send(first, conversation_id)
    reply_id = ack["assistant_message_id"]
    await first.wait_for(lambda: len(first.tokens(reply_id)) >= 5, what="five tokens")
    await first.sio.eio.disconnect(abort=True)  # the phone enters a tunnel
    seen = first.tokens(reply_id)
    last_seq = seen[-1]["seq"]

    second = await devices().connect(server, learner.access_token)
    join = await second.call("conversation:join", {"conversation_id": conversation_id})
    assert join["streaming"] == [reply_id]
    await asyncio.sleep(0.5)  # the reply goes on meanwhile; the room must not send it mid-way
    assert second.tokens(reply_id) == []
    resume = await second.call("stream:resume", {"message_id": reply_id, "last_seq": last_seq})
    assert resume == {"ok": True, "message_id": reply_id, "status": "streaming"}
    end = await second.wait_end(reply_id)
    rest = second.tokens(reply_id)
    # Joined and resuming at once, it still gets each token once, in order, from last_seq + 1.
    assert [t["seq"] for t in rest] == list(range(last_seq + 1, last_seq + 1 + len(rest)))
    assert "".join(t["delta"] for t in seen + rest) == end["content"]
    assert len(second.named("assistant:end", reply_id)) == 1
    assert second.named("assistant:start", reply_id) == []

    # Resuming a finished reply answers with the stored message.
    done = await second.call("stream:resume", {"message_id": reply_id, "last_seq": 0})
    assert done["ok"] and done["status"] == "complete"
    assert done["message"]["content"] == end["content"]


async def test_joining_mid_reply_without_resuming_gets_its_end_but_no_partial_tokens(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    conversation_id = await learner.conversation()
    sender = await devices().connect(server, learner.access_token)
    ack = await send(sender, conversation_id)
    reply_id = ack["assistant_message_id"]
    await sender.wait_for(lambda: len(sender.tokens(reply_id)) >= 3, what="three tokens")
    late = await devices().connect(server, learner.access_token)
    join = await late.call("conversation:join", {"conversation_id": conversation_id})
    assert join["streaming"] == [reply_id]
    end = await late.wait_end(reply_id)
    assert late.tokens(reply_id) == []  # a tail without its beginning would render wrong
    assert end == (await sender.wait_end(reply_id))
    # The next reply in the conversation streams to it normally.
    second = await send(sender, conversation_id, "And what about friction?")
    end2 = await late.wait_end(second["assistant_message_id"])
    assert_stream(late, second["assistant_message_id"], end2)


async def test_resume_from_zero_without_joining_replays_the_whole_reply(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    conversation_id = await learner.conversation()
    sender = await devices().connect(server, learner.access_token)
    ack = await send(sender, conversation_id)
    reply_id = ack["assistant_message_id"]
    await sender.wait_for(lambda: len(sender.tokens(reply_id)) >= 3, what="three tokens")
    watcher = await devices().connect(server, learner.access_token)
    resume = await watcher.call("stream:resume", {"message_id": reply_id, "last_seq": 0})
    assert resume["status"] == "streaming"
    end = await watcher.wait_end(reply_id)
    assert_stream(watcher, reply_id, end)
    assert len(watcher.named("assistant:start", reply_id)) == 1
    assert watcher.named("message:new") == []  # not joined: only the resumed reply


async def test_resume_of_a_foreign_or_unknown_message_is_not_found(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    conversation_id = await learner.conversation()
    owner = await devices().connect(server, learner.access_token)
    ack = await send(owner, conversation_id, "What is a mole?")
    other = await register(server)
    intruder = await devices().connect(server, other.access_token)
    for message_id in (ack["assistant_message_id"], "0" * 24, "zzz"):
        answer = await intruder.call("stream:resume", {"message_id": message_id, "last_seq": 0})
        assert answer["error"]["code"] == "message_not_found"
        abort = await intruder.call("message:abort", {"message_id": message_id})
        assert abort["error"]["code"] == "message_not_found"
    not_reply = await owner.call("stream:resume", {"message_id": ack["message_id"], "last_seq": 0})
    assert not_reply["error"]["code"] == "not_resumable"
    await owner.wait_end(ack["assistant_message_id"])
    assert intruder.named("assistant:token") == []


async def test_abort_stops_the_reply_and_stores_it_aborted(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    conversation_id = await learner.conversation()
    device = await devices().connect(server, learner.access_token)
    ack = await send(device, conversation_id)
    reply_id = ack["assistant_message_id"]
    await device.wait_for(lambda: len(device.tokens(reply_id)) >= 3, what="three tokens")
    abort = await device.call("message:abort", {"message_id": reply_id})
    assert abort["ok"] is True
    assert abort["message"]["status"] == "aborted"
    end = await device.wait_end(reply_id)
    assert end["status"] == "aborted"
    assert_stream(device, reply_id, end)
    stored = (await learner.messages(conversation_id))[1]
    assert stored["status"] == "aborted" and stored["content"] == end["content"]
    not_reply = await device.call("message:abort", {"message_id": ack["message_id"]})
    assert not_reply["error"]["code"] == "not_abortable"


# ---- safety --------------------------------------------------------------------------------
async def test_send_rate_limit_answers_rate_limited(
    server: ServerProcess, devices: Callable[[], Device]
) -> None:
    learner = await register(server)  # CHAT_RATE_LIMIT=4/minute for this server
    conversation_id = await learner.conversation()
    device = await devices().connect(server, learner.access_token)
    acks = [
        await device.call(
            "message:send", {"conversation_id": conversation_id, "content": f"question {i}"}
        )
        for i in range(5)
    ]
    assert [a["ok"] for a in acks] == [True] * 4 + [False]
    assert acks[4]["error"]["code"] == "rate_limited"
    assert acks[4]["error"]["details"]["retry_after"] >= 1
    assert len(await learner.messages(conversation_id)) == 8  # the refused one stored nothing


async def test_oversized_frame_closes_the_connection(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    conversation_id = await learner.conversation()
    device = await devices().connect(server, learner.access_token)
    await device.sio.emit(
        "message:send", {"conversation_id": conversation_id, "content": "x" * 70_000}
    )
    async with asyncio.timeout(10):
        await device.disconnected.wait()
    assert await learner.messages(conversation_id) == []


async def test_logout_disconnects_that_sessions_sockets_only(
    server: ServerProcess, devices: Callable[[], Device]
) -> None:
    learner = await register(server)
    async with server.rest() as client:
        login = await client.post(
            "/auth/login",
            json={"email": await _email(server, learner), "password": "correct horse battery"},
        )
    assert login.status_code == 200
    other_session = login.json()
    this_device = await devices().connect(server, learner.access_token)
    other_device = await devices().connect(server, other_session["access_token"])
    async with server.rest() as client:
        response = await client.post("/auth/logout", json={"refresh_token": learner.refresh_token})
    assert response.status_code == 204
    async with asyncio.timeout(10):
        await this_device.disconnected.wait()
    assert this_device.named("auth:expired") == [{"reason": "logged_out"}]
    await asyncio.sleep(0.3)
    assert other_device.sio.connected


async def _email(server: ServerProcess, learner: Learner) -> str:
    async with server.rest() as client:
        me = await client.get("/users/me", headers=learner.headers)
    return str(me.json()["email"])


async def test_expired_socket_is_disconnected_unless_refreshed(
    server: ServerProcess, learner: Learner, devices: Callable[[], Device]
) -> None:
    lapsing = await devices().connect(server, short_lived_token(learner.id, 2))
    kept = await devices().connect(server, short_lived_token(learner.id, 2))
    refreshed = await kept.call("auth:refresh", {"token": learner.access_token})
    assert refreshed["ok"] is True and refreshed["expires_at"]
    wrong = await kept.call("auth:refresh", {"token": (await register(server)).access_token})
    assert wrong["error"]["code"] == "invalid_token"
    async with asyncio.timeout(10):
        await lapsing.disconnected.wait()
    assert lapsing.named("auth:expired") == [{"reason": "expired"}]
    assert kept.sio.connected
    ack = await kept.call("conversation:join", {"conversation_id": await learner.conversation()})
    assert ack["ok"] is True


async def test_presence_and_typing_reach_other_members_only(
    server: ServerProcess, mongo_url: str, devices: Callable[[], Device]
) -> None:
    owner, member, outsider = [await register(server) for _ in range(3)]
    conversation_id = await owner.conversation()
    await add_member(server, mongo_url, conversation_id, member.id)

    owner_phone = await devices().connect(server, owner.access_token)
    owner_laptop = await devices().connect(server, owner.access_token)
    member_device = await devices().connect(server, member.access_token)
    outsider_device = await devices().connect(server, outsider.access_token)
    for device in (owner_phone, owner_laptop, member_device):
        assert (await device.call("conversation:join", {"conversation_id": conversation_id}))["ok"]
    refused = await outsider_device.call("conversation:join", {"conversation_id": conversation_id})
    assert refused["error"]["code"] == "conversation_not_found"

    online = await owner_phone.wait_for(
        lambda: [p for p in owner_phone.named("presence") if p["user_id"] == member.id],
        what="the member's presence",
    )
    assert online[0] == {
        "conversation_id": conversation_id,
        "user_id": member.id,
        "status": "online",
    }

    first = await owner_phone.call(
        "typing", {"conversation_id": conversation_id, "is_typing": True}
    )
    again = await owner_phone.call(
        "typing", {"conversation_id": conversation_id, "is_typing": True}
    )
    stop = await owner_phone.call(
        "typing", {"conversation_id": conversation_id, "is_typing": False}
    )
    assert [first["relayed"], again["relayed"], stop["relayed"]] == [True, False, True]
    typing = await member_device.wait_for(
        lambda: len(member_device.named("typing")) >= 2 and member_device.named("typing"),
        what="typing",
    )
    assert typing == [
        {"conversation_id": conversation_id, "user_id": owner.id, "is_typing": True},
        {"conversation_id": conversation_id, "user_id": owner.id, "is_typing": False},
    ]
    await asyncio.sleep(0.3)
    assert owner_laptop.named("typing") == []  # never echoed to the typist's own devices
    assert outsider_device.events == []

    await member_device.close()
    offline = await owner_phone.wait_for(
        lambda: [p for p in owner_phone.named("presence") if p["status"] == "offline"],
        what="the member going offline",
    )
    assert offline == [
        {"conversation_id": conversation_id, "user_id": member.id, "status": "offline"}
    ]
    assert outsider_device.events == []


async def test_a_members_message_in_a_study_group_fans_out_to_the_mentor(
    server: ServerProcess, mongo_url: str, devices: Callable[[], Device]
) -> None:
    mentor, member = await register(server), await register(server)
    await set_role(server, mongo_url, mentor.id, "mentor")
    async with server.rest() as client:
        created = await client.post("/groups", json={"name": "NEET batch"}, headers=mentor.headers)
        assert created.status_code == 201, created.text
        group = created.json()
        joined = await client.post(
            "/groups/join", json={"invite_code": group["invite_code"]}, headers=member.headers
        )
        assert joined.status_code == 200
    conversation_id = group["conversation_id"]
    mentor_device = await devices().connect(server, mentor.access_token)
    member_device = await devices().connect(server, member.access_token)
    assert (await mentor_device.call("conversation:join", {"conversation_id": conversation_id}))[
        "ok"
    ]
    ack = await send(member_device, conversation_id, "Why do enzymes denature at high heat?")
    end = await mentor_device.wait_end(ack["assistant_message_id"])
    assert end["status"] == "complete"
    new = mentor_device.named("message:new")
    assert [(m["id"], m["author_id"]) for m in new] == [(ack["message_id"], member.id)]
    assert_stream(mentor_device, ack["assistant_message_id"], end)


async def test_a_relayed_typing_reuses_a_recent_access_check_then_checks_again(
    server: ServerProcess, mongo_url: str, devices: Callable[[], Device]
) -> None:
    """Within TYPING_ACCESS_RECHECK_SECONDS of the join's check a relay asks no database; past
    it, a loss of access nobody announced is found by the relay itself."""
    mentor, member, group = await study_group(server, mongo_url)
    conversation_id = group["conversation_id"]
    watcher = await devices().connect(server, mentor.access_token)
    typist = await devices().connect(server, member.access_token)
    for device in (watcher, typist):
        ack = await device.call("conversation:join", {"conversation_id": conversation_id})
        assert ack["ok"] is True, ack
    joined_at = asyncio.get_running_loop().time()

    await remove_member(server, mongo_url, conversation_id, member.id)  # not announced
    ack = await typist.call("typing", {"conversation_id": conversation_id, "is_typing": True})
    assert asyncio.get_running_loop().time() - joined_at < TYPING_RECHECK_S, "too slow to judge"
    assert ack == {"ok": True, "relayed": True}
    await watcher.wait_for(lambda: watcher.named("typing"))

    await asyncio.sleep(TYPING_RECHECK_S + 0.1)
    ack = await typist.call("typing", {"conversation_id": conversation_id, "is_typing": False})
    assert ack["ok"] is False
    # The relay's own check (conversation_not_found), or the heartbeat's re-check (every 20 s)
    # got there first and took the socket out (not_joined); either way nothing is relayed.
    assert ack["error"]["code"] in ("conversation_not_found", "not_joined"), ack
    lost = await typist.wait_for(lambda: typist.named("conversation:access_lost"))
    assert lost == [{"conversation_id": conversation_id, "reason": "revoked"}]
    assert len(watcher.named("typing")) == 1


async def test_a_join_that_finds_access_gone_takes_the_socket_out(
    server: ServerProcess, mongo_url: str, devices: Callable[[], Device]
) -> None:
    """Joining again a conversation whose access went unannounced: the refusal also ends the
    earlier join (room, presence, typing), as the heartbeat's re-check would, later."""
    _, member, group = await study_group(server, mongo_url)
    conversation_id = group["conversation_id"]
    typist = await devices().connect(server, member.access_token)
    ack = await typist.call("conversation:join", {"conversation_id": conversation_id})
    assert ack["ok"] is True, ack

    await remove_member(server, mongo_url, conversation_id, member.id)  # not announced
    again = await typist.call("conversation:join", {"conversation_id": conversation_id})
    assert again["error"]["code"] == "conversation_not_found"
    # At once: the heartbeat's re-check (every 20 s here) would find it only later.
    lost = await typist.wait_for(
        lambda: typist.named("conversation:access_lost"), timeout=3, what="access_lost"
    )
    assert lost == [{"conversation_id": conversation_id, "reason": "revoked"}]
    ack = await typist.call("typing", {"conversation_id": conversation_id, "is_typing": True})
    assert ack["error"]["code"] == "not_joined"


async def test_a_server_process_indexes_the_shipped_knowledge_before_it_is_ready(
    server: ServerProcess,
) -> None:
    """The first learner's first reply does not wait for the shipped notes' index."""
    records = [
        json.loads(line)
        for line in server.log_path.read_text(errors="replace").splitlines()
        if line.startswith("{")
    ]
    messages = [r.get("msg") for r in records]
    assert "shipped knowledge indexed" in messages, server.log_tail()
    indexed = records[messages.index("shipped knowledge indexed")]
    assert indexed["passages"] > 500  # the notes and the question bank's explanations
    assert messages.index("shipped knowledge indexed") < messages.index("starguide ready")
