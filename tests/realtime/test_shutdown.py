"""SIGTERM, as Kubernetes and `docker stop` send it: the instance stops taking connections,
closes its sockets at once (so clients reconnect to another instance), lets a running reply
finish within SHUTDOWN_GRACE_SECONDS, and exits cleanly; a reply still running when the grace
runs out is stored as interrupted, never left `streaming` forever."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.realtime.conftest import Device, ServerProcess, register

pytestmark = pytest.mark.slow


async def stream_until_tokens(
    server: ServerProcess, headers: dict[str, str], conversation_id: str, tokens: int
) -> tuple[httpx.AsyncClient, httpx.Response, list[tuple[str, Any]]]:
    """Starts a streamed reply and returns once `tokens` tokens have arrived (stream open)."""
    client = server.rest()
    request = client.build_request(
        "POST",
        f"/conversations/{conversation_id}/messages",
        json={"content": "Explain Newton's laws of motion", "client_message_id": uuid.uuid4().hex},
        headers={**headers, "Accept": "text/event-stream"},
    )
    response = await client.send(request, stream=True)
    assert response.status_code == 200
    events: list[tuple[str, Any]] = []
    lines = response.aiter_lines()
    name = ""
    async for line in lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line[5:])))
            if sum(1 for n, _ in events if n == "assistant:token") >= tokens:
                break
    response.extensions["rest"] = lines
    return client, response, events


async def read_rest(response: httpx.Response, events: list[tuple[str, Any]]) -> None:
    name = ""
    async for line in response.extensions["rest"]:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line[5:])))


async def exited_cleanly(server: ServerProcess) -> None:
    """uvicorn re-raises SIGTERM after its graceful shutdown (exit status -15 as seen by the
    parent): what counts is that the lifespan's shutdown ran to the end."""
    assert server.proc is not None
    code = await asyncio.to_thread(server.proc.wait, 30)
    assert code in (0, -signal.SIGTERM), server.log_tail()
    assert "Application shutdown complete" in server.log_tail(), server.log_tail()


async def test_sigterm_closes_sockets_at_once_and_lets_a_running_reply_finish(
    mongo_url: str, tmp_path: Path, devices: Callable[[], Device]
) -> None:
    server = await ServerProcess(
        mongo_url=mongo_url,
        db=f"shutdown_{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path,
        OFFLINE_TOKEN_DELAY_MS="30",
        SHUTDOWN_GRACE_SECONDS="30",
    ).start()
    try:
        learner = await register(server)
        conversation_id = await learner.conversation()
        device = await devices().connect(server, learner.access_token)
        client, response, events = await stream_until_tokens(
            server, learner.headers, conversation_id, tokens=3
        )
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        # The socket is closed at once, long before the reply ends.
        await asyncio.wait_for(device.disconnected.wait(), 5)
        assert time.monotonic() - signalled < 5
        # No new connections while draining.
        with pytest.raises(httpx.TransportError):
            async with httpx.AsyncClient(timeout=2) as other:
                await other.get(f"{server.url}/healthz")

        await read_rest(response, events)
        await response.aclose()
        await client.aclose()
        end = [data for name, data in events if name == "assistant:end"]
        assert end, f"the reply did not finish: {[n for n, _ in events][-5:]}"
        assert end[0]["status"] == "complete"
        tokens = "".join(d["delta"] for n, d in events if n == "assistant:token")
        assert tokens == end[0]["content"]
        await exited_cleanly(server)
    finally:
        await server.stop()


async def test_a_reply_running_past_the_grace_is_stored_as_interrupted(
    mongo_url: str, tmp_path: Path
) -> None:
    db = f"shutdown_{uuid.uuid4().hex[:8]}"
    server = await ServerProcess(
        mongo_url=mongo_url,
        db=db,
        data_dir=tmp_path,
        OFFLINE_TOKEN_DELAY_MS="300",  # a reply of many seconds
        SHUTDOWN_GRACE_SECONDS="1",
    ).start()
    try:
        learner = await register(server)
        conversation_id = await learner.conversation()
        client, response, events = await stream_until_tokens(
            server, learner.headers, conversation_id, tokens=1
        )
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        await exited_cleanly(server)
        with pytest.raises(httpx.HTTPError):
            await read_rest(response, events)
        await client.aclose()
        assert not [n for n, _ in events if n == "assistant:end"]
    finally:
        await server.stop()

    again = await ServerProcess(mongo_url=mongo_url, db=db, data_dir=tmp_path).start()
    try:
        learner.server = again
        messages = await learner.messages(conversation_id)
        reply = messages[-1]
        assert reply["role"] == "assistant"
        assert reply["status"] == "failed"
        assert reply["error"]["code"] == "interrupted"
    finally:
        await again.stop()


async def test_a_reply_started_over_a_socket_finishes_within_the_grace(
    mongo_url: str, tmp_path: Path, devices: Callable[[], Device]
) -> None:
    """uvicorn waits only for the requests it serves; a reply started with `message:send`
    runs in the chat service's own task and gets the rest of the grace from the lifespan."""
    db = f"shutdown_{uuid.uuid4().hex[:8]}"
    server = await ServerProcess(
        mongo_url=mongo_url,
        db=db,
        data_dir=tmp_path,
        OFFLINE_TOKEN_DELAY_MS="30",
        SHUTDOWN_GRACE_SECONDS="30",
    ).start()
    try:
        learner = await register(server)
        conversation_id = await learner.conversation()
        device = await devices().connect(server, learner.access_token)
        ack = await device.call(
            "message:send",
            {
                "conversation_id": conversation_id,
                "client_message_id": uuid.uuid4().hex,
                "content": "Explain Newton's laws of motion",
            },
        )
        assert ack["ok"], ack
        start = await device.wait_for(lambda: device.named("assistant:start"), what="a start")
        message_id = start[0]["message_id"]
        await device.wait_for(lambda: len(device.tokens(message_id)) >= 2, what="tokens")
        assert not device.named("assistant:end")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(device.disconnected.wait(), 5)
        await exited_cleanly(server)
        assert "waiting for running replies" in server.log_path.read_text()
    finally:
        await server.stop()

    again = await ServerProcess(mongo_url=mongo_url, db=db, data_dir=tmp_path).start()
    try:
        learner.server = again
        reply = (await learner.messages(conversation_id))[-1]
        assert reply["id"] == message_id
        assert reply["status"] == "complete", reply
        assert reply["content"]
    finally:
        await again.stop()
