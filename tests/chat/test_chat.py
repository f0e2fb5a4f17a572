"""Mentor chat over REST: SSE and JSON sends, re-sends, failures, regenerate, abort, memory.

AI providers are the real SDKs against the fake vendor servers; the offline provider is real.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId

from models import Message, Organization
from server.config import Settings
from tests.ai_router.fakes import Behaviour, FakeVendors
from tests.chat.conftest import ChatSession
from tests.chat.helpers import (
    SseStream,
    message_body,
    new_conversation,
    parse_sse,
    sse_headers,
)
from tests.conftest import Api, LiveServer, free_port, make_settings, vendor_settings

CHUNKS = tuple(f"w{i} " for i in range(40))


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory, fake_server: FakeVendors
) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("data"),
        ai_providers="openai,anthropic,offline",
        chat_rate_limit="1000/minute",
        ai_daily_budget_usd=None,
        chat_flush_seconds=0.05,
        sse_heartbeat_seconds=0.2,
        **vendor_settings(fake_server),
    )


@pytest.fixture(scope="module")
async def live(app_settings: Settings, api: Api) -> AsyncIterator[LiveServer]:
    """A second instance of the app on the same database, served over real HTTP."""
    from server.app import create_app

    server = await LiveServer(create_app(app_settings), free_port()).start()
    yield server
    await server.stop()


async def _stored(message_id: str) -> Message:
    found = await Message.get(PydanticObjectId(message_id))
    assert found is not None
    return found


async def _until_status(message_id: str, within: float = 10.0) -> Message:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        message = await _stored(message_id)
        if message.status != "streaming" or asyncio.get_running_loop().time() > deadline:
            return message
        await asyncio.sleep(0.05)


async def test_sse_streams_in_order_and_stores_what_it_streamed(api: Api) -> None:
    me = await api.register(exam="JEE")
    conv = await new_conversation(api.client, me["auth"])
    body = message_body("How do I find the range of a projectile?", provider="offline")
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages", json=body, headers=sse_headers(me["auth"])
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    assert "no-cache" in response.headers["cache-control"]
    stream = parse_sse(response.text)
    names = stream.names
    assert names[0] == "assistant:start" and names[-1] == "assistant:end"
    assert set(names[1:-1]) == {"assistant:token"}
    start, end = stream.named("assistant:start")[0], stream.named("assistant:end")[0]
    seqs = [t["seq"] for t in stream.named("assistant:token")]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > 5
    assert start["provider"] == "offline" and start["conversation_id"] == conv
    assert start["user_message"]["content"] == body["content"]
    assert end["content"] == stream.text()
    assert end["provider"] == "offline" and end["usage"]["output_tokens"] > 0
    reply = await _stored(end["message_id"])
    assert reply.status == "complete" and reply.content == stream.text()
    assert reply.meta is not None and reply.meta.plan_reason
    question = await _stored(start["user_message"]["id"])
    assert question.client_message_id == body["client_message_id"]
    assert reply.parent_id == question.id
    assert [t.subject for t in question.topics][:1] == ["physics"]

    conversation = await api.client.get(f"/api/v1/conversations/{conv}", headers=me["auth"])
    data = conversation.json()
    assert data["message_count"] == 2
    assert data["title"] == "How do I find the range of a projectile?"
    listed = await api.client.get(f"/api/v1/conversations/{conv}/messages", headers=me["auth"])
    items = listed.json()["items"]
    assert [m["role"] for m in items] == ["user", "assistant"]
    assert items[0]["topics"] and items[0]["topics"][0]["subject"] == "physics"


async def test_json_send_answers_201_with_both_messages(api: Api) -> None:
    me = await api.register()
    conv = await new_conversation(api.client, me["auth"], title="My title")
    body = message_body("What is a mole in chemistry?", provider="offline")
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages", json=body, headers=me["auth"]
    )
    assert response.status_code == 201, response.text
    data = response.json()
    user, reply = data["user_message"], data["assistant_message"]
    assert user["role"] == "user" and user["content"] == body["content"]
    assert user["client_message_id"] == body["client_message_id"]
    assert reply["status"] == "complete" and reply["parent_id"] == user["id"]
    assert reply["content"] and reply["provider"] == "offline"
    assert set(reply["usage"]) >= {"input_tokens", "output_tokens", "cost_usd"}
    # The learner named it: no automatic title.
    got = await api.client.get(f"/api/v1/conversations/{conv}", headers=me["auth"])
    assert got.json()["title"] == "My title"


async def test_vendor_stream_through_the_sdk_is_stored_with_usage_and_cost(
    api: Api, fakes: FakeVendors
) -> None:
    # Counts plausible for the prompt (system prompt included) and the reply are kept as sent.
    fakes.script("openai", Behaviour(usage=(400, 9)))
    me = await api.register(exam="NEET")
    conv = await new_conversation(api.client, me["auth"])
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages",
        json=message_body("Explain DNA replication", provider="openai"),
        headers=sse_headers(me["auth"]),
    )
    stream = parse_sse(response.text)
    assert stream.text() == "The answer is forty two."
    end = stream.named("assistant:end")[0]
    assert end["provider"] == "openai"
    assert end["usage"]["input_tokens"] == 400 and end["usage"]["output_tokens"] == 9
    assert end["usage"]["estimated"] is False
    assert end["usage"]["cost_usd"] > 0
    reply = await _stored(end["message_id"])
    assert reply.usage is not None and reply.usage.cost_usd == end["usage"]["cost_usd"]
    assert reply.meta is not None and reply.meta.ttft_ms is not None
    assert [a.outcome for a in reply.meta.attempts] == ["ok"]
    # The mentor's character and the learner's exam reached the vendor.
    sent = fakes.bodies("openai")[-1]["messages"]
    assert sent[0]["role"] == "system"
    assert "Socratic" in sent[0]["content"] and "NEET" in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "Explain DNA replication"}


async def test_history_reaches_the_provider_on_the_next_turn(
    convo: ChatSession, fakes: FakeVendors
) -> None:
    for text in ("What is inertia?", "And what is momentum?"):
        response = await convo.send(message_body(text, provider="openai"))
        assert response.status_code == 201
    sent = fakes.bodies("openai")[-1]["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "What is inertia?"),
        ("assistant", "The answer is forty two."),
        ("user", "And what is momentum?"),
    ]


async def test_cut_mid_stream_is_completed_by_fallback(
    convo: ChatSession, fakes: FakeVendors
) -> None:
    fakes.script("openai", Behaviour(kind="cut_abrupt", cut_after=2))
    body = message_body("What is torque?", provider="openai")
    response = await convo.send(body, sse=True)
    stream = parse_sse(response.text)
    assert stream.names[-1] == "assistant:end"
    end = stream.named("assistant:end")[0]
    assert end["content"] == stream.text() == "The answer is forty two."
    assert end["provider"] != "openai"
    reply = await _stored(end["message_id"])
    assert reply.status == "complete" and reply.content == end["content"]
    assert reply.meta is not None
    assert reply.meta.attempts[0].outcome == "failed"
    question = await Message.find_one({"client_message_id": body["client_message_id"]})
    assert question is not None and question.content == "What is torque?"


@pytest.fixture(scope="module")
async def openai_only_org(api: Api) -> str:
    await Organization(
        name="OpenAI only", slug="openai-only", allowed_providers=["openai"]
    ).insert()
    return "openai-only"


async def test_cut_without_fallback_marks_reply_failed_and_keeps_partial(
    api: Api, fakes: FakeVendors, openai_only_org: str
) -> None:
    fakes.script("openai", Behaviour(kind="cut_abrupt", cut_after=2))
    me = await api.register(org_slug=openai_only_org)
    conv = await new_conversation(api.client, me["auth"])
    body = message_body("What is torque?")
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages", json=body, headers=sse_headers(me["auth"])
    )
    stream = parse_sse(response.text)
    assert stream.names[0] == "assistant:start" and stream.names[-1] == "assistant:error"
    error = stream.named("assistant:error")[0]
    assert error["code"] == "ai_unavailable"
    reply = await _stored(error["message_id"])
    assert reply.status == "failed" and reply.error is not None
    assert reply.error.code == "ai_unavailable"
    assert reply.content == stream.text() == "The answer "
    question = await Message.find_one({"client_message_id": body["client_message_id"]})
    assert question is not None and question.status == "complete"

    # JSON mode answers 201 with the failed reply: both messages are stored.
    fakes.script(
        "openai", Behaviour(kind="status", status=500), Behaviour(kind="status", status=500)
    )
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages",
        json=message_body("And angular momentum?"),
        headers=me["auth"],
    )
    assert response.status_code == 201
    failed = response.json()["assistant_message"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "ai_unavailable"


async def test_twenty_parallel_sends_with_one_client_id_store_one_exchange(
    api: Api, convo: ChatSession
) -> None:
    me, conv = convo.me, convo.conv
    body = message_body("What is entropy?", provider="offline")

    async def send() -> Any:
        return await convo.send(body)

    responses = await asyncio.gather(*[send() for _ in range(20)])
    assert {r.status_code for r in responses} == {201}
    user_ids = {r.json()["user_message"]["id"] for r in responses}
    reply_ids = {r.json()["assistant_message"]["id"] for r in responses}
    assert len(user_ids) == 1 and len(reply_ids) == 1
    conv_id = PydanticObjectId(conv)
    assert await Message.find({"conversation_id": conv_id, "role": "user"}).count() == 1
    assert await Message.find({"conversation_id": conv_id, "role": "assistant"}).count() == 1
    got = await api.client.get(f"/api/v1/conversations/{conv}", headers=me["auth"])
    assert got.json()["message_count"] == 2

    # A re-send over SSE replays the stored exchange.
    again = await convo.send(body, sse=True)
    stream = parse_sse(again.text)
    assert stream.names[0] == "assistant:start" and stream.names[-1] == "assistant:end"
    assert stream.named("assistant:end")[0]["message_id"] in reply_ids


async def test_sse_client_that_disconnects_still_leaves_a_complete_reply(
    live: LiveServer, convo: ChatSession, fakes: FakeVendors
) -> None:
    fakes.script("openai", Behaviour(chunks=CHUNKS, chunk_delay_s=0.02))
    me, conv = convo.me, convo.conv
    seen: list[str] = []
    async with live.client() as client:
        async with client.stream(
            "POST",
            f"/api/v1/conversations/{conv}/messages",
            json=message_body("What is friction?", provider="openai"),
            headers=sse_headers(me["auth"]),
        ) as response:
            async for line in response.aiter_lines():
                seen.append(line)
                if sum(1 for s in seen if s.startswith("event: assistant:token")) >= 3:
                    break  # leave mid-stream: the connection closes here
    start = json.loads(next(s for s in seen if s.startswith("data:") and "user_message" in s)[5:])
    reply = await _until_status(start["message_id"])
    assert reply.status == "complete"
    assert reply.content == "".join(CHUNKS)
    assert "openai" not in fakes.disconnects  # the upstream was read to its end


async def _stream_and_abort(
    live: LiveServer,
    abort_via: httpx.AsyncClient | None,
    conv: str,
    auth: dict[str, str],
    content: str,
    *,
    after_tokens: int,
) -> tuple[SseStream, httpx.Response]:
    """Streams a send on the live instance and aborts it after `after_tokens` tokens, through
    `abort_via` (another instance) or the live one; returns the whole stream and the abort."""
    async with live.client() as client:
        async with client.stream(
            "POST",
            f"/api/v1/conversations/{conv}/messages",
            json=message_body(content, provider="openai"),
            headers=sse_headers(auth),
        ) as response:
            buffer = ""
            aborted: httpx.Response | None = None
            async for chunk in response.aiter_text():
                buffer += chunk
                seen = parse_sse(buffer.rsplit("\n\n", 1)[0] + "\n\n")
                if aborted is None and len(seen.named("assistant:token")) >= after_tokens:
                    message_id = seen.named("assistant:start")[0]["message_id"]
                    aborted = await (abort_via or client).post(
                        f"/api/v1/conversations/{conv}/messages/{message_id}/abort",
                        headers=auth,
                    )
    assert aborted is not None, "the stream ended before the abort"
    return parse_sse(buffer), aborted


async def test_abort_stops_the_reply_and_keeps_the_partial_text(
    live: LiveServer, api: Api, convo: ChatSession, fakes: FakeVendors
) -> None:
    fakes.script("openai", Behaviour(chunks=CHUNKS, chunk_delay_s=0.05))
    me, conv = convo.me, convo.conv
    stream, aborted = await _stream_and_abort(
        live, None, conv, me["auth"], "What is work done by friction?", after_tokens=2
    )
    assert aborted is not None and aborted.status_code == 200, aborted
    assert aborted.json()["status"] == "aborted"
    end = stream.named("assistant:end")[0]
    assert end["status"] == "aborted"
    reply = await _stored(end["message_id"])
    assert reply.status == "aborted"
    assert reply.content == end["content"] == stream.text()
    assert 2 <= len(stream.named("assistant:token")) < len(CHUNKS)
    # Aborting again is harmless: the reply is returned as it is.
    again = await api.client.post(
        f"/api/v1/conversations/{conv}/messages/{end['message_id']}/abort", headers=me["auth"]
    )
    assert again.status_code == 200 and again.json()["status"] == "aborted"


async def test_abort_through_another_instance_stops_the_owner(
    live: LiveServer, api: Api, convo: ChatSession, fakes: FakeVendors
) -> None:
    """The reply streams on the live instance; the abort arrives at the in-process one."""
    fakes.script("openai", Behaviour(chunks=CHUNKS, chunk_delay_s=0.05))
    me, conv = convo.me, convo.conv
    stream, other = await _stream_and_abort(
        live, api.client, conv, me["auth"], "Explain torque again", after_tokens=3
    )
    assert other.status_code == 200
    assert stream.names[-1] == "assistant:end"
    end = stream.named("assistant:end")[0]
    assert end["status"] == "aborted"
    assert len(stream.named("assistant:token")) < len(CHUNKS)
    reply = await _stored(end["message_id"])
    assert reply.status == "aborted" and reply.content == stream.text()


async def test_regenerate_adds_a_sibling_reply(api: Api, convo: ChatSession) -> None:
    me, conv = convo.me, convo.conv
    first = await convo.send(message_body("What is a vector?", provider="offline"))
    old = first.json()["assistant_message"]
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages/{old['id']}/regenerate",
        headers=sse_headers(me["auth"]),
    )
    assert response.status_code == 200
    stream = parse_sse(response.text)
    end = stream.named("assistant:end")[0]
    assert end["message_id"] != old["id"]
    new = await _stored(end["message_id"])
    assert str(new.parent_id) == old["parent_id"] and new.status == "complete"
    assert (await _stored(old["id"])).status == "complete"  # the old reply stays
    listed = await api.client.get(f"/api/v1/conversations/{conv}/messages", headers=me["auth"])
    assert [m["role"] for m in listed.json()["items"]] == ["user", "assistant", "assistant"]
    # Regenerating from the learner's message works too (JSON mode).
    again = await api.client.post(
        f"/api/v1/conversations/{conv}/messages/{old['parent_id']}/regenerate",
        json={"provider": "offline"},
        headers=me["auth"],
    )
    assert again.status_code == 201
    assert again.json()["assistant_message"]["parent_id"] == old["parent_id"]


async def test_heartbeats_keep_a_slow_stream_alive(convo: ChatSession, fakes: FakeVendors) -> None:
    fakes.script("openai", Behaviour(first_token_delay_s=0.7))
    response = await convo.send(message_body("What is a lens?", provider="openai"), sse=True)
    stream = parse_sse(response.text)
    assert stream.comments.count("ping") >= 2
    assert stream.names[-1] == "assistant:end"


async def test_another_users_conversation_is_404_for_send_regenerate_and_abort(api: Api) -> None:
    owner, other = await api.register(), await api.register()
    conv = await new_conversation(api.client, owner["auth"])
    sent = await api.client.post(
        f"/api/v1/conversations/{conv}/messages",
        json=message_body("What is a vector?", provider="offline"),
        headers=owner["auth"],
    )
    reply_id = sent.json()["assistant_message"]["id"]
    base = f"/api/v1/conversations/{conv}/messages"
    attempts = [
        await api.client.post(base, json=message_body("hi"), headers=other["auth"]),
        await api.client.post(f"{base}/{reply_id}/regenerate", headers=other["auth"]),
        await api.client.post(f"{base}/{reply_id}/abort", headers=other["auth"]),
    ]
    for response in attempts:
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "conversation_not_found"
    # A message of another conversation is 404 even inside one's own conversation.
    mine = await new_conversation(api.client, other["auth"])
    response = await api.client.post(
        f"/api/v1/conversations/{mine}/messages/{reply_id}/abort", headers=other["auth"]
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "message_not_found"
    assert await Message.find({"conversation_id": PydanticObjectId(conv)}).count() == 2


@pytest.mark.parametrize(
    "body",
    [
        {"content": ""},
        {"content": "   \n "},
        {"content": "x" * 8001},
        {"content": {"$gt": ""}},
        {"content": 42},
        {"content": ["a"]},
        {"content": None},
        {},
        {"content": "hi", "client_message_id": {"$ne": None}},
        {"content": "hi", "client_message_id": "has spaces in it"},
        {"content": "hi", "client_message_id": 7},
        {"content": "hi", "provider": "skynet"},
        {"content": "hi", "role": "assistant"},
    ],
)
async def test_bad_input_is_422_and_stores_nothing(
    convo: ChatSession, body: dict[str, Any]
) -> None:
    conv = convo.conv
    response = await convo.send(body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert await Message.find({"conversation_id": PydanticObjectId(conv)}).count() == 0


async def test_content_limit_is_inclusive_and_malformed_ids_are_404(
    api: Api, convo: ChatSession
) -> None:
    me, conv = convo.me, convo.conv
    response = await convo.send(message_body("x" * 8000, provider="offline"))
    assert response.status_code == 201
    for path, body in (
        ("/api/v1/conversations/not-an-id/messages", message_body("hi")),
        (f"/api/v1/conversations/{conv}/messages/not-an-id/abort", None),
        (f"/api/v1/conversations/{conv}/messages/{PydanticObjectId()}/regenerate", None),
    ):
        got = await api.client.post(path, json=body, headers=me["auth"])
        assert got.status_code == 404, (path, got.text)
    unauthenticated = await api.client.post(
        f"/api/v1/conversations/{conv}/messages", json=message_body("hi")
    )
    assert unauthenticated.status_code == 401


async def test_confusion_becomes_a_weak_topic_and_reaches_the_prompt(
    api: Api, fakes: FakeVendors
) -> None:
    me = await api.register(exam="JEE")
    conv = await new_conversation(api.client, me["auth"])
    profile = await api.client.get("/api/v1/users/me", headers=me["auth"])
    assert profile.json()["memory"]["weak_topics"] == []
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages",
        json=message_body("I don't understand projectile motion at all", provider="offline"),
        headers=me["auth"],
    )
    assert response.status_code == 201
    topic = response.json()["user_message"]["topics"][0]
    weak = (await api.client.get("/api/v1/users/me", headers=me["auth"])).json()["memory"][
        "weak_topics"
    ]
    assert [w["topic_id"] for w in weak] == [topic["id"]]
    assert weak[0]["subject"] == "physics" and weak[0]["score"] == pytest.approx(1.0, abs=0.01)
    assert "don't understand" in weak[0]["reason"]
    # The next request tells the mentor about it.
    await api.client.post(
        f"/api/v1/conversations/{conv}/messages",
        json=message_body("ok, so what should I do first?", provider="openai"),
        headers=me["auth"],
    )
    system = fakes.bodies("openai")[-1]["messages"][0]["content"]
    assert topic["name"] in system and "Weak topics" in system


async def test_interrupted_replies_are_swept(api: Api, app: Any, tmp_path: Path) -> None:
    from datetime import timedelta

    from models.common import utcnow

    stale = await Message(
        conversation_id=PydanticObjectId(),
        role="assistant",
        content="half",
        status="streaming",
        parent_id=PydanticObjectId(),
        updated_at=utcnow() - timedelta(hours=1),
    ).insert()
    fresh = await Message(
        conversation_id=PydanticObjectId(),
        role="assistant",
        content="",
        status="streaming",
        parent_id=PydanticObjectId(),
    ).insert()
    assert await app.state.ctx.chat.sweep_stale() >= 1
    swept, running = await _stored(str(stale.id)), await _stored(str(fresh.id))
    assert swept.status == "failed" and swept.error is not None
    assert swept.error.code == "interrupted" and swept.content == "half"
    assert running.status == "streaming"


async def test_regenerate_while_a_reply_streams_is_409(
    api: Api, convo: ChatSession, app: Any, fakes: FakeVendors
) -> None:
    from server.chat.schemas import SendMessage

    fakes.script("openai", Behaviour(chunks=CHUNKS, chunk_delay_s=0.05))
    me, conv = convo.me, convo.conv
    user = await convo.user()
    chat = app.state.ctx.chat
    exchange = await chat.send(
        user=user,
        conversation_id=conv,
        body=SendMessage(content="What is torque?", provider="openai"),
    )
    reply_id = str(exchange.assistant_message.id)
    url = f"/api/v1/conversations/{conv}/messages/{reply_id}/regenerate"
    responses = await asyncio.gather(
        *[api.client.post(url, json={"provider": "offline"}, headers=me["auth"]) for _ in range(3)]
    )
    assert {r.status_code for r in responses} == {409}
    assert responses[0].json()["error"]["code"] == "generation_in_progress"
    aborted = await api.client.post(
        f"/api/v1/conversations/{conv}/messages/{reply_id}/abort", headers=me["auth"]
    )
    assert aborted.json()["status"] == "aborted"
    # Once it has ended, regenerating is allowed again.
    again = await api.client.post(url, json={"provider": "offline"}, headers=me["auth"])
    assert again.status_code == 201
    assert again.json()["assistant_message"]["status"] == "complete"


async def test_a_resend_while_streaming_reattaches_to_the_running_reply(
    live: LiveServer, api: Api, convo: ChatSession, fakes: FakeVendors
) -> None:
    fakes.script("openai", Behaviour(chunks=CHUNKS, chunk_delay_s=0.03))
    me, conv = convo.me, convo.conv
    body = message_body("What is a capacitor?", provider="openai")
    url = f"/api/v1/conversations/{conv}/messages"
    async with live.client() as client:

        async def read_all(wait_for_tokens: int = 0) -> Any:
            if wait_for_tokens:
                await asyncio.sleep(0.3)  # join while the first stream is running
            response = await client.post(url, json=body, headers=sse_headers(me["auth"]))
            return parse_sse(response.text)

        first, again = await asyncio.gather(read_all(), read_all(wait_for_tokens=1))
        # The same reply, every token from seq 1, although the second send joined late.
        assert (
            again.named("assistant:start")[0]["message_id"]
            == (first.named("assistant:start")[0]["message_id"])
        )
        assert [t["seq"] for t in again.named("assistant:token")] == list(range(1, len(CHUNKS) + 1))
        assert again.text() == first.text() == "".join(CHUNKS)
    # Through the other instance, a re-send gets the stored exchange once it has ended.
    other = await api.client.post(url, json=body, headers=sse_headers(me["auth"]))
    stream = parse_sse(other.text)
    assert stream.names == ["assistant:start", "assistant:end"]
    assert stream.named("assistant:end")[0]["content"] == "".join(CHUNKS)
    assert fakes.count("openai") == 1
    assert await Message.find({"conversation_id": PydanticObjectId(conv)}).count() == 2


async def test_a_resend_to_another_instance_waits_for_the_reply_to_end(
    live: LiveServer, api: Api, convo: ChatSession, fakes: FakeVendors
) -> None:
    fakes.script("openai", Behaviour(chunks=CHUNKS, chunk_delay_s=0.03))
    me, conv = convo.me, convo.conv
    body = message_body("What is a resistor?", provider="openai")
    url = f"/api/v1/conversations/{conv}/messages"

    async def on_live() -> Any:
        async with live.client() as client:
            response = await client.post(url, json=body, headers=sse_headers(me["auth"]))
            return parse_sse(response.text)

    async def on_other() -> Any:
        await asyncio.sleep(0.3)
        return await api.client.post(url, json=body, headers=me["auth"])

    streamed, waited = await asyncio.gather(on_live(), on_other())
    assert waited.status_code == 201
    reply = waited.json()["assistant_message"]
    assert reply["status"] == "complete" and reply["content"] == streamed.text()
    assert reply["id"] == streamed.named("assistant:end")[0]["message_id"]


async def test_openapi_documents_the_chat_routes(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    send = schema["paths"]["/api/v1/conversations/{conversation_id}/messages"]["post"]
    assert "text/event-stream" in send["responses"]["200"]["content"]
    assert "201" in send["responses"] and "429" in send["responses"]
    for action in ("regenerate", "abort"):
        path = f"/api/v1/conversations/{{conversation_id}}/messages/{{message_id}}/{action}"
        assert "post" in schema["paths"][path]


async def test_deleting_a_conversation_stops_its_running_reply(
    api: Api, convo: ChatSession, app: Any, fakes: FakeVendors
) -> None:
    from server.chat.schemas import SendMessage

    fakes.script("openai", Behaviour(chunks=CHUNKS, chunk_delay_s=0.05))
    me, conv = convo.me, convo.conv
    user = await convo.user()
    exchange = await app.state.ctx.chat.send(
        user=user, conversation_id=conv, body=SendMessage(content="Hi", provider="openai")
    )
    assert exchange.generation is not None
    deleted = await api.client.delete(f"/api/v1/conversations/{conv}", headers=me["auth"])
    assert deleted.status_code == 204
    await asyncio.wait_for(exchange.generation.wait(), 5)
    assert exchange.generation.stop_reason == "aborted"
    assert len(exchange.generation.events) < len(CHUNKS)
    assert await Message.find({"conversation_id": PydanticObjectId(conv)}).count() == 0


@pytest.mark.parametrize("body", [{"provider": "skynet"}, {"provider": 1}, {"$set": {"x": 1}}])
async def test_bad_regenerate_bodies_are_422_and_start_nothing(
    api: Api, convo: ChatSession, body: dict[str, Any]
) -> None:
    me, conv = convo.me, convo.conv
    sent = await convo.send(message_body("What is a vector?", provider="offline"))
    reply_id = sent.json()["assistant_message"]["id"]
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages/{reply_id}/regenerate",
        json=body,
        headers=me["auth"],
    )
    assert response.status_code == 422
    assert await Message.find({"conversation_id": PydanticObjectId(conv)}).count() == 2
