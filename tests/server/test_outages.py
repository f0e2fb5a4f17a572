"""MongoDB or Redis going away: 503 `dependency_unavailable` with Retry-After on REST, SSE and
socket acks, never a 500, and everything working again once they are back, without restarting
the server. Real servers throughout: a redis-server of each test's own that it kills and starts
again on the same port, and an embedded database killed with SIGKILL."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import socketio
from redis import Redis as SyncRedis

from server import errors
from server.app import create_app, create_asgi_app
from server.embedded_db import EmbeddedMongo
from tests.chat.helpers import message_body, new_conversation, parse_sse, sse_headers
from tests.conftest import LiveServer, free_port, make_settings

PASSWORD = "correct horse battery"


class RedisServer:
    """A redis-server on a fixed port that a test can kill and start again."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(  # noqa: S603
            [self.binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = SyncRedis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
        client.close()
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: `apt-get install redis-server` (.ci/run does)")
    server = RedisServer(binary, free_port()).start()
    try:
        yield server
    finally:
        server.kill()


def assert_dependency_down(response: httpx.Response, dependency: str) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "dependency_unavailable"
    assert error["details"]["dependency"] == dependency
    assert "127.0.0.1" not in response.text and "mongodb://" not in response.text


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 30, what: str = "recovery"
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout} s")
        await asyncio.sleep(0.2)


async def register(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "A"}
    )
    assert response.status_code == 201, response.text
    return email, {"Authorization": f"Bearer {response.json()['access_token']}"}


# ---- Redis ------------------------------------------------------------------------------------
@pytest.fixture
async def live_with_redis(
    mongo_url: str, redis_server: RedisServer, tmp_path: Path
) -> AsyncIterator[LiveServer]:
    settings = make_settings(
        mongo_url, tmp_path, redis_url=redis_server.url, ai_providers="offline"
    )
    server = await LiveServer(create_asgi_app(settings), free_port()).start()
    try:
        yield server
    finally:
        await server.stop()


async def test_redis_down_answers_503_and_recovers_without_a_restart(
    live_with_redis: LiveServer,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(
        errors, "_outages", {}, raising=False
    )  # forget outages other tests reported
    live = live_with_redis
    async with live.client() as client:
        email, auth = await register(client)
        conversation = await new_conversation(client, auth)
        token = auth["Authorization"].removeprefix("Bearer ")
        device = socketio.AsyncClient(reconnection=False)
        events: list[tuple[str, Any]] = []

        async def record(event: str, data: Any = None) -> None:
            events.append((event, data))

        device.on("*", record)
        await device.connect(live.base_url, auth={"token": token}, transports=["websocket"])
        try:
            joined = await device.call("conversation:join", {"conversation_id": conversation})
            assert joined["ok"] is True, joined

            redis_server.kill()
            login = {"email": email, "password": PASSWORD}
            assert_dependency_down(await client.post("/api/v1/auth/login", json=login), "redis")
            sent = await client.post(
                f"/api/v1/conversations/{conversation}/messages",
                json=message_body("What is inertia?"),
                headers=auth,
            )
            assert_dependency_down(sent, "redis")
            payload = {"conversation_id": conversation, **message_body("What is inertia?")}
            ack = await device.call("message:send", payload, timeout=15)
            assert ack["ok"] is False and ack["error"]["code"] == "dependency_unavailable", ack
            assert ack["error"]["details"]["retry_after"] >= 1
            await asyncio.sleep(2.5)  # the control channel retries every second meanwhile

            redis_server.start()  # same port: nothing in the app is rebuilt
            # Connections pooled before the restart are replaced, not failed once each.
            relogin = await client.post("/api/v1/auth/login", json=login)
            assert relogin.status_code == 200, relogin.text
            sent = await client.post(
                f"/api/v1/conversations/{conversation}/messages",
                json=message_body("What is inertia?"),
                headers=auth,
            )
            assert sent.status_code == 201, sent.text

            # Socket.IO's Redis manager subscribes again: a room emit travels through Redis.
            async def socket_reply_arrives() -> bool:
                body = {"conversation_id": conversation, **message_body("What is momentum?")}
                ack = await device.call("message:send", body, timeout=15)
                assert ack["ok"] is True, ack
                for _ in range(25):
                    if any(
                        e == "assistant:end" and d["message_id"] == ack["assistant_message_id"]
                        for e, d in events
                    ):
                        return True
                    await asyncio.sleep(0.2)
                return False

            await eventually(socket_reply_arrives, timeout=60, what="socket fan-out")
        finally:
            await device.disconnect()

    # The control channel between instances is subscribed again too.
    cluster = live.app.other_asgi_app.state.ctx.cluster
    heard = asyncio.Event()

    async def on_ping(_: dict[str, Any]) -> None:
        heard.set()

    cluster.on("test:ping", on_ping)

    async def control_message_arrives() -> bool:
        await cluster.publish("test:ping", {})
        try:
            await asyncio.wait_for(heard.wait(), 1)
        except TimeoutError:
            return False
        return True

    await eventually(control_message_arrives, what="control channel")

    # One line per outage, not one per request or retry.
    messages = [r.getMessage() for r in caplog.records]
    assert sum("control channel lost" in m for m in messages) == 1, messages
    assert sum("control channel restored" in m for m in messages) == 1, messages
    assert sum(m.startswith("redis unavailable") for m in messages) == 1, messages


# ---- the embedded database --------------------------------------------------------------------
@dataclass
class EmbeddedApp:
    live: LiveServer
    client: httpx.AsyncClient

    @property
    def embedded(self) -> EmbeddedMongo:
        database: EmbeddedMongo = self.live.app.other_asgi_app.state.ctx.embedded
        return database


@pytest.fixture
async def embedded_app(tmp_path: Path) -> AsyncIterator[EmbeddedApp]:
    """The server as `make run` starts it: no MONGODB_URL, so it runs (and supervises) the
    embedded database in its data directory. Requests give up on MongoDB after half a
    second, so that the time a restart takes is visible as 503s."""
    settings = make_settings("", tmp_path, mongodb_url=None, dependency_timeout_seconds=0.5)
    live = await LiveServer(create_asgi_app(settings), free_port()).start()
    try:
        async with live.client() as client:
            yield EmbeddedApp(live, client)
    finally:
        await live.stop()


async def kill_database(embedded: EmbeddedMongo) -> int:
    process, port = embedded.process, urlsplit(embedded.url or "").port
    assert process is not None and port is not None
    os.kill(process.pid, signal.SIGKILL)
    await asyncio.to_thread(process.wait)
    return port


async def test_a_killed_embedded_database_is_503_then_restarted(
    embedded_app: EmbeddedApp,
) -> None:
    client = embedded_app.client
    _, auth = await register(client)
    # SecantusDB journals an acknowledged write a moment later: let the account reach the
    # journal, so that what comes back after the crash is the database as it was.
    await asyncio.sleep(2)
    embedded = embedded_app.embedded
    first_pid = embedded.process.pid  # type: ignore[union-attr]
    port = await kill_database(embedded)
    # Hold the port until a request has seen the outage: under load the supervisor can bring
    # the database back before the first request is served, and the test saw no 503 at all.
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    try:
        down = await client.get("/api/v1/conversations", headers=auth)
        assert_dependency_down(down, "mongodb")
    finally:
        squatter.close()
    statuses = [down.status_code]

    async def works_again() -> bool:
        response = await client.get("/api/v1/conversations", headers=auth)
        statuses.append(response.status_code)
        if response.status_code == 503:
            assert_dependency_down(response, "mongodb")
        else:
            assert response.status_code == 200, response.text
        return response.status_code == 200

    await eventually(works_again, what="restart of the embedded database")
    assert statuses[0] == 503 and set(statuses) == {503, 200}  # never a 500
    assert embedded.process is not None and embedded.process.pid != first_pid

    async def ready_again() -> bool:
        ready = await client.get("/readyz")
        embedded_check = ready.json().get("checks", {}).get("mongodb", {}).get("embedded")
        return ready.status_code == 200 and embedded_check == {"state": "running", "restarts": 1}

    await eventually(ready_again, timeout=10, what="readiness")


async def test_healthz_fails_while_the_embedded_database_cannot_be_restarted(
    embedded_app: EmbeddedApp,
) -> None:
    client, live = embedded_app.client, embedded_app.live
    email, auth = await register(client)
    conversation = await new_conversation(client, auth)
    token = auth["Authorization"].removeprefix("Bearer ")
    connected = socketio.AsyncClient(reconnection=False)
    await connected.connect(live.base_url, auth={"token": token}, transports=["websocket"])
    # A learner whose account this server has not read yet (accounts it has read are cached,
    # server/lookups.py): connecting needs the database.
    _, newcomer_auth = await register(client)
    newcomer_token = newcomer_auth["Authorization"].removeprefix("Bearer ")
    port = await kill_database(embedded_app.embedded)
    # Something else takes the port: every restart attempt fails until it is released.
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    try:
        started = time.monotonic()
        response = await client.get("/api/v1/users/me", headers=auth)
        assert_dependency_down(response, "mongodb")
        assert time.monotonic() - started < 10  # fails in seconds, does not hang
        login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert_dependency_down(login, "mongodb")
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"]["details"]["failing"] == ["mongodb"]

        # Sockets: an event's ack, and a new connection's refusal, carry the same code.
        ack = await connected.call("conversation:join", {"conversation_id": conversation})
        assert ack["ok"] is False and ack["error"]["code"] == "dependency_unavailable", ack
        refusals: list[Any] = []
        newcomer = socketio.AsyncClient(reconnection=False)
        newcomer.on("connect_error", lambda data=None: refusals.append(data))
        with pytest.raises(socketio.exceptions.ConnectionError):
            # The refusal comes after MongoDB's own timeout (DEPENDENCY_TIMEOUT_SECONDS): wait
            # longer than the client's default second for it.
            await newcomer.connect(
                live.base_url,
                auth={"token": newcomer_token},
                transports=["websocket"],
                wait_timeout=15,
            )
        assert refusals and refusals[0]["data"]["code"] == "dependency_unavailable", refusals

        async def not_live() -> bool:
            return (await client.get("/healthz")).status_code == 503

        await eventually(not_live, what="failing /healthz")
        health = await client.get("/healthz")
        assert health.headers["Retry-After"]
        error = health.json()["error"]
        assert error["code"] == "dependency_unavailable"
        assert error["details"]["embedded"]["state"] == "failed"
    finally:
        squatter.close()
        await connected.disconnect()

    async def live_again() -> bool:
        return (await client.get("/healthz")).status_code == 200

    await eventually(live_again, timeout=60, what="restart once the port is free")
    _, auth = await register(client)
    assert (await client.get("/api/v1/users/me", headers=auth)).status_code == 200


# ---- SSE ----------------------------------------------------------------------------------
async def test_an_sse_stream_ends_with_assistant_error_when_the_database_goes(
    tmp_path: Path,
) -> None:
    """A re-send reaching an instance that does not generate the reply follows it through the
    store; when MongoDB goes away, the stream ends with `assistant:error`, not a cut."""
    database = EmbeddedMongo(storage_path=tmp_path / "mongo")
    url = await database.start()
    common = {"mongodb_db": "outage_sse", "ai_providers": "offline"}
    generating = create_app(make_settings(url, tmp_path, offline_token_delay_ms=150, **common))
    following = await LiveServer(
        create_app(make_settings(url, tmp_path, **common)), free_port()
    ).start()
    try:
        async with generating.router.lifespan_context(generating), following.client() as b:
            a = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=generating), base_url="http://a"
            )
            _, auth = await register(a)
            conversation = await new_conversation(a, auth)
            body = message_body("Explain Newton's laws of motion with examples.")
            path = f"/api/v1/conversations/{conversation}/messages"
            first = asyncio.create_task(a.post(path, json=body, headers=auth))

            async def stored() -> bool:  # and being generated by the first instance
                page = await b.get(path, headers=auth)
                return [m["status"] for m in page.json()["items"]] == ["complete", "streaming"]

            await eventually(stored, what="the first send")
            text, killed = "", False
            async with b.stream("POST", path, json=body, headers=sse_headers(auth)) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_text():
                    text += chunk
                    if ": stream open" in text and not killed:
                        killed = True
                        await kill_database(database)  # while it follows the stored reply
            stream = parse_sse(text)
            assert stream.names[-1] == "assistant:error", stream.names
            error = stream.named("assistant:error")[0]
            assert error["code"] == "dependency_unavailable" and error["message_id"]
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            await a.aclose()
    finally:
        await following.stop()
        await database.stop()


async def test_a_reply_being_generated_ends_with_assistant_error_when_the_database_goes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The instance generating a reply loses MongoDB for good mid-reply: it cannot store the
    failure either, yet the SSE stream and the conversation's sockets still get
    `assistant:error` (`dependency_unavailable`, built from the reply in memory), and the
    generation task's exception is retrieved (no "Task exception was never retrieved")."""
    settings = make_settings(
        "",
        tmp_path,
        mongodb_url=None,
        dependency_timeout_seconds=0.5,
        ai_providers="offline",
        offline_token_delay_ms=100,
    )
    live = await LiveServer(create_asgi_app(settings), free_port()).start()
    embedded: EmbeddedMongo = live.app.other_asgi_app.state.ctx.embedded
    squatter = socket.socket()
    try:
        async with live.client() as client:
            _, auth = await register(client)
            conversation = await new_conversation(client, auth)
            token = auth["Authorization"].removeprefix("Bearer ")
            heard: list[tuple[str, Any]] = []
            watcher = socketio.AsyncClient(reconnection=False)
            watcher.on("*", lambda event, data=None: heard.append((event, data)))
            await watcher.connect(live.base_url, auth={"token": token}, transports=["websocket"])
            joined = await watcher.call("conversation:join", {"conversation_id": conversation})
            assert joined["ok"] is True, joined
            path = f"/api/v1/conversations/{conversation}/messages"
            body = message_body("Explain Newton's laws of motion with examples.")
            text, killed = "", False
            async with asyncio.timeout(60):
                async with client.stream(
                    "POST", path, json=body, headers=sse_headers(auth)
                ) as response:
                    assert response.status_code == 200
                    async for chunk in response.aiter_text():
                        text += chunk
                        if "event: assistant:token" in text and not killed:
                            killed = True
                            port = await kill_database(embedded)
                            # Every restart fails while the port is taken: MongoDB stays down.
                            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                            squatter.bind(("127.0.0.1", port))
                            squatter.listen()
            stream = parse_sse(text)
            assert killed and stream.names[-1] == "assistant:error", stream.names
            reply_id = stream.named("assistant:start")[0]["message_id"]
            error = stream.named("assistant:error")[0]
            assert error["code"] == "dependency_unavailable", error
            assert error["message_id"] == reply_id

            async def socket_heard_the_error() -> bool:
                return any(e == "assistant:error" and d["message_id"] == reply_id for e, d in heard)

            await eventually(socket_heard_the_error, timeout=10, what="assistant:error")
            socket_error = next(d for e, d in heard if e == "assistant:error")
            assert socket_error["code"] == "dependency_unavailable"
            await watcher.disconnect()
    finally:
        squatter.close()
        await live.stop()
    gc.collect()
    await asyncio.sleep(0)
    assert "Task exception was never retrieved" not in caplog.text
