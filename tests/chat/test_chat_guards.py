"""Chat hardening against misbehaving providers and unusable pins: implausible usage, runaway
replies, restarts after failover, and a pinned provider that is not available.

AI providers are the real SDKs against the fake vendor servers (tests/ai_router/fakes.py).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from beanie import PydanticObjectId

from ai_router.pricing import REPLY_CHARS_PER_TOKEN
from models import AiUsageDay, Message, Organization
from server.config import Settings
from tests.ai_router.fakes import Behaviour, FakeVendors
from tests.chat.helpers import (
    SseStream,
    message_body,
    new_conversation,
    parse_sse,
    sse_headers,
)
from tests.conftest import Api, LiveServer, free_port, make_settings, vendor_settings

MAX_OUTPUT_TOKENS = 64
ORIGIN = "http://localhost:3000"
FIRST = (
    "Newton's first law of motion says that a body stays at rest or keeps moving in a "
    "straight line unless a net force acts on it."
)
REWORDED = (
    "Newton's first law of motion states that every object continues in its state of rest "
    "or of uniform motion unless an external force acts upon it."
)


def words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\S+\s*", text))


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory, fake_server: FakeVendors
) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("data"),
        ai_providers="openai,anthropic,offline",  # gemini has a key but is not enabled
        chat_rate_limit="1000/minute",
        ai_daily_budget_usd=1.0,
        chat_max_output_tokens=MAX_OUTPUT_TOKENS,
        chat_flush_seconds=0.05,
        **vendor_settings(fake_server),
    )


@pytest.fixture(scope="module")
async def live(app_settings: Settings, api: Api) -> AsyncIterator[LiveServer]:
    """Another instance on the same database, over real HTTP, with the Socket.IO gateway."""
    from server.app import create_asgi_app

    server = await LiveServer(create_asgi_app(app_settings), free_port()).start()
    yield server
    await server.stop()


async def _send(api: Api, auth: dict[str, str], conv: str, **body: Any) -> Any:
    return await api.client.post(f"/api/v1/conversations/{conv}/messages", json=body, headers=auth)


async def _day(user_id: str) -> AiUsageDay:
    day = await AiUsageDay.find_one({"user_id": PydanticObjectId(user_id)})
    assert day is not None
    return day


def _client_text(stream: SseStream) -> str:
    """What a client shows: token deltas, dropping those an `assistant:reset` withdrew."""
    shown: list[tuple[int, str]] = []
    for name, data in stream.events:
        if name == "assistant:token":
            shown.append((data["seq"], data["delta"]))
        elif name == "assistant:reset":
            shown = [(seq, d) for seq, d in shown if seq > data["seq"]]
    return "".join(d for _, d in shown)


# ---- usage -----------------------------------------------------------------------------------
async def test_negative_or_absurd_usage_never_moves_the_budget_the_wrong_way(
    api: Api, fakes: FakeVendors
) -> None:
    me = await api.register()
    conv = await new_conversation(api.client, me["auth"])
    # Negative counts once gave a negative cost, which raised the day's remaining budget.
    fakes.script("openai", Behaviour(usage=(-10_000_000, -10_000_000)))
    first = await _send(
        api, me["auth"], conv, **message_body("What is inertia?", provider="openai")
    )
    assert first.status_code == 201, first.text
    usage = first.json()["assistant_message"]["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert 0 < usage["cost_usd"] < 0.01 and usage["estimated"] is True
    stored = await Message.get(PydanticObjectId(first.json()["assistant_message"]["id"]))
    assert stored is not None and stored.usage is not None and stored.usage.estimated
    day = await _day(me["user"]["id"])
    assert 0 < day.cost_usd < 0.01 and day.input_tokens > 0 and day.output_tokens > 0
    assert day.providers["openai"].cost_usd == pytest.approx(day.cost_usd)

    # Absurd counts would have spent the whole day's budget on one short reply.
    fakes.script("openai", Behaviour(usage=(10**9, 10**9)))
    second = await _send(api, me["auth"], conv, **message_body("And momentum?", provider="openai"))
    assert second.status_code == 201
    assert second.json()["assistant_message"]["usage"]["estimated"] is True
    assert (await _day(me["user"]["id"])).cost_usd < 0.01
    third = await _send(api, me["auth"], conv, **message_body("And force?", provider="openai"))
    assert third.status_code == 201, third.text  # not locked out by a provider's bad numbers
    assert third.json()["assistant_message"]["status"] == "complete"


# ---- length cap ------------------------------------------------------------------------------
async def test_a_runaway_reply_is_cut_completed_and_marked_length(
    api: Api, fakes: FakeVendors
) -> None:
    runaway = Behaviour(chunks=("x" * 999 + " ",), repeat=100_000, chunk_delay_s=0.001)
    limit = MAX_OUTPUT_TOKENS * REPLY_CHARS_PER_TOKEN
    me = await api.register()
    conv = await new_conversation(api.client, me["auth"])
    fakes.script("openai", runaway)
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages",
        json=message_body("Explain inertia at length", provider="openai"),
        headers=sse_headers(me["auth"]),
    )
    stream = parse_sse(response.text)
    assert stream.names[-1] == "assistant:end"
    end = stream.named("assistant:end")[0]
    assert end["status"] == "complete" and end["finish_reason"] == "length"
    assert len(end["content"]) == limit and stream.text() == end["content"]
    stored = await Message.get(PydanticObjectId(end["message_id"]))
    assert stored is not None and stored.status == "complete" and len(stored.content) == limit
    assert stored.meta is not None and stored.meta.finish_reason == "length"
    assert await fakes.wait_for(lambda: "openai" in fakes.disconnects)
    assert fakes.requests[-1].chunks_sent < 100  # the provider stream was closed, not drained

    fakes.script("openai", runaway)
    answer = await _send(api, me["auth"], conv, **message_body("Again please", provider="openai"))
    assert answer.status_code == 201
    reply = answer.json()["assistant_message"]
    assert reply["status"] == "complete" and reply["finish_reason"] == "length"
    assert len(reply["content"]) == limit
    listed = await api.client.get(f"/api/v1/conversations/{conv}/messages", headers=me["auth"])
    items = listed.json()["items"]
    assert [m["finish_reason"] for m in items] == [None, "length", None, "length"]


# ---- restart after failover ------------------------------------------------------------------
async def test_a_reworded_restart_after_failover_is_stored_once_and_signalled(
    api: Api, fakes: FakeVendors
) -> None:
    me = await api.register()
    conv = await new_conversation(api.client, me["auth"])
    fakes.script("openai", Behaviour(kind="cut", chunks=words(FIRST), cut_after=8))
    fakes.script("anthropic", Behaviour(chunks=words(REWORDED)))  # answers from the start
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages",
        json=message_body("What is Newton's first law?", provider="openai"),
        headers=sse_headers(me["auth"]),
    )
    stream = parse_sse(response.text)
    assert stream.names[-1] == "assistant:end"
    resets = stream.named("assistant:reset")
    assert len(resets) == 1 and resets[0]["seq"] == 8 and resets[0]["provider"] == "anthropic"
    seqs = [t["seq"] for t in stream.named("assistant:token")]
    assert seqs == list(range(1, len(seqs) + 1))  # still no gaps across the reset
    end = stream.named("assistant:end")[0]
    assert end["content"] == REWORDED == _client_text(stream)
    stored = await Message.get(PydanticObjectId(end["message_id"]))
    assert stored is not None and stored.content == REWORDED and stored.status == "complete"


async def test_a_word_for_word_restart_after_failover_is_spliced(
    api: Api, fakes: FakeVendors
) -> None:
    me = await api.register()
    conv = await new_conversation(api.client, me["auth"])
    fakes.script("openai", Behaviour(kind="cut", chunks=words(FIRST), cut_after=12))
    fakes.script("anthropic", Behaviour(chunks=words(FIRST)))
    answer = await _send(
        api, me["auth"], conv, **message_body("What is Newton's first law?", provider="openai")
    )
    assert answer.status_code == 201
    reply = answer.json()["assistant_message"]
    assert reply["content"] == FIRST and reply["provider"] == "anthropic"


# ---- a pinned provider that is not available ---------------------------------------------------
async def _message_count(conv: str) -> int:
    return await Message.find({"conversation_id": PydanticObjectId(conv)}).count()


async def test_a_pinned_provider_that_is_not_available_is_422_and_stores_nothing(
    api: Api, live: LiveServer, fakes: FakeVendors
) -> None:
    me = await api.register()
    conv = await new_conversation(api.client, me["auth"])
    # Not enabled on this server (AI_PROVIDERS): once silently answered by another provider.
    refused = await _send(api, me["auth"], conv, **message_body("What is work?", provider="gemini"))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "provider_not_allowed" and error["details"]["provider"] == "gemini"
    assert await _message_count(conv) == 0 and fakes.count("gemini") == 0
    sse = await api.client.post(
        f"/api/v1/conversations/{conv}/messages",
        json=message_body("What is work?", provider="gemini"),
        headers=sse_headers(me["auth"]),
    )
    assert sse.status_code == 422 and sse.json()["error"]["code"] == "provider_not_allowed"

    # Not allowed by the learner's organization (offline included).
    await Organization(name="Pinned", slug="pinned-openai", allowed_providers=["openai"]).insert()
    member = await api.register(org_slug="pinned-openai")
    conv2 = await new_conversation(api.client, member["auth"])
    for provider in ("anthropic", "offline"):
        no = await _send(api, member["auth"], conv2, **message_body("Hi", provider=provider))
        assert no.status_code == 422 and no.json()["error"]["code"] == "provider_not_allowed"
    assert await _message_count(conv2) == 0
    ok = await _send(api, member["auth"], conv2, **message_body("Hi", provider="openai"))
    assert ok.status_code == 201 and ok.json()["assistant_message"]["provider"] == "openai"

    # Regenerate with an unavailable provider: refused, no new reply.
    reply_id = ok.json()["assistant_message"]["id"]
    again = await api.client.post(
        f"/api/v1/conversations/{conv2}/messages/{reply_id}/regenerate",
        json={"provider": "anthropic"},
        headers=member["auth"],
    )
    assert again.status_code == 422 and again.json()["error"]["code"] == "provider_not_allowed"
    assert await _message_count(conv2) == 2

    # The socket's message:send acks the same error, and stores nothing either.
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(
        live.base_url,
        auth={"token": me["access_token"]},
        headers={"Origin": ORIGIN},
        transports=["websocket"],
    )
    try:
        ack = await client.call(
            "message:send",
            {"conversation_id": conv, "content": "What is power?", "provider": "gemini"},
            timeout=10,
        )
    finally:
        await client.disconnect()
    assert ack["ok"] is False and ack["error"]["code"] == "provider_not_allowed"
    assert await _message_count(conv) == 0

    # The learner's preferred_provider is only a preference (the organization may change its
    # list after it was chosen): unavailable, it never refuses a send.
    patched = await api.client.patch(
        "/api/v1/users/me", json={"preferred_provider": "gemini"}, headers=me["auth"]
    )
    assert patched.status_code == 200, patched.text
    answer = await _send(api, me["auth"], conv, **message_body("What is a vector?"))
    assert answer.status_code == 201
    assert answer.json()["assistant_message"]["provider"] in ("openai", "anthropic", "offline")
