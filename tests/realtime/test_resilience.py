"""The gateway under a Redis outage and with lost control messages (issue 14's leftovers): a
connect is refused `dependency_unavailable` at every step that needs Redis, the heartbeat logs
an outage once (not a traceback per round), and a disabled user's sockets are ended by the
heartbeat's re-check even when the `disconnect_user` message never arrived."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from bson import ObjectId
from pymongo import AsyncMongoClient

from server.app import create_asgi_app
from tests.conftest import LiveServer, free_port, make_settings
from tests.realtime.conftest import APP_ORIGIN, Device
from tests.server.test_outages import RedisServer, redis_server  # noqa: F401 - the fixture

PASSWORD = "correct horse battery"


async def register(server: LiveServer) -> dict[str, Any]:
    body = {
        "email": f"{uuid.uuid4().hex[:10]}@example.com",
        "password": PASSWORD,
        "display_name": "Asha",
    }
    async with httpx.AsyncClient(base_url=f"{server.base_url}/api/v1") as client:
        response = await client.post("/auth/register", json=body)
    assert response.status_code == 201, response.text
    registered: dict[str, Any] = response.json()
    return registered


async def new_conversation(server: LiveServer, auth: dict[str, Any]) -> str:
    headers = {"Authorization": f"Bearer {auth['access_token']}"}
    async with httpx.AsyncClient(base_url=f"{server.base_url}/api/v1") as client:
        response = await client.post("/conversations", json={}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def app_state(server: LiveServer) -> Any:
    return server.app.other_asgi_app.state.ctx


# ---- Redis down ------------------------------------------------------------------------------
@pytest.fixture
async def live_with_redis(
    mongo_url: str,
    redis_server: RedisServer,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> AsyncIterator[LiveServer]:
    # The shortest presence TTL: a heartbeat every 1.7 s.
    settings = make_settings(
        mongo_url,
        tmp_path,
        redis_url=redis_server.url,
        ai_providers="offline",
        presence_ttl_seconds=5,
        cors_origins=[APP_ORIGIN],
    )
    server = await LiveServer(create_asgi_app(settings), free_port()).start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_connect_needing_redis_for_its_socket_slot_is_refused_while_redis_is_down(
    live_with_redis: LiveServer,
    redis_server: RedisServer,  # noqa: F811
    devices: Callable[[], Device],
) -> None:
    live = live_with_redis
    auth = await register(live)
    # A token without a login session (`fid`), as issued before sessions existed: its check
    # needs no Redis, so the socket-slot step is the first to meet the outage.
    token = app_state(live).tokens.issue(subject=auth["user"]["id"], token_type="access").token
    redis_server.kill()

    refused = devices()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(live.base_url, token)
    assert refused.connect_errors, "the connect was not answered"
    error = refused.connect_errors[0]["data"]
    assert error["code"] == "dependency_unavailable", error
    assert error["details"] == {"dependency": "redis", "retry_after": 5}
    assert "127.0.0.1" not in str(error)

    redis_server.start()
    for _ in range(50):  # the pool replaces its dead connections on the next command
        again = devices()
        try:
            await again.connect(live.base_url, token)
            break
        except socketio.exceptions.ConnectionError:
            await asyncio.sleep(0.2)
    else:
        pytest.fail("no connection after Redis came back")
    assert again.sio.connected


async def test_the_gateway_logs_a_redis_outage_once_not_every_round(
    live_with_redis: LiveServer,
    redis_server: RedisServer,  # noqa: F811
    devices: Callable[[], Device],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="starguide.realtime")
    live = live_with_redis
    auth = await register(live)
    conversation = await new_conversation(live, auth)
    device = await devices().connect(live.base_url, auth["access_token"])
    joined = await device.call("conversation:join", {"conversation_id": conversation})
    assert joined["ok"] is True, joined

    async def typing(is_typing: bool) -> None:  # each one relayed: an emit through Redis
        body = {"conversation_id": conversation, "is_typing": is_typing}
        ack = await device.call("typing", body)
        assert ack == {"ok": True, "relayed": True}, ack

    redis_server.kill()
    for is_typing in (True, False, True, False):
        await typing(is_typing)
    await asyncio.sleep(6)  # three or four heartbeats
    redis_server.start()
    await asyncio.sleep(4)  # two more, working again
    await typing(True)

    records = [r for r in caplog.records if r.name.startswith(("starguide.realtime", "socketio"))]
    messages = [r.getMessage() for r in records]
    for step in ("refreshing presence and socket slots", "publishing socket emits to Redis"):
        assert sum(m.startswith(f"{step} lost") for m in messages) == 1, messages
        assert sum(m.startswith(f"{step} restored") for m in messages) == 1, messages
    assert not [r for r in records if r.exc_info], messages  # no traceback per round
    assert not [m for m in messages if "Cannot publish to redis" in m], messages


# ---- a lost disconnect_user message ------------------------------------------------------------
@pytest.fixture
async def live(mongo_url: str, tmp_path: Path) -> AsyncIterator[LiveServer]:
    settings = make_settings(mongo_url, tmp_path, presence_ttl_seconds=5, cors_origins=[APP_ORIGIN])
    server = await LiveServer(create_asgi_app(settings), free_port()).start()
    try:
        yield server
    finally:
        await server.stop()


async def disable_behind_the_servers_back(mongo_url: str, db: str, user_id: str) -> None:
    """As if the admin's `disconnect_user` message were lost: only the stored flag changes."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        result = await client[db]["users"].update_one(
            {"_id": ObjectId(user_id)}, {"$set": {"disabled": True}}
        )
        assert result.modified_count == 1
    finally:
        await client.close()


async def test_the_heartbeat_ends_the_sockets_of_a_user_disabled_without_a_message(
    live: LiveServer, mongo_url: str, devices: Callable[[], Device]
) -> None:
    victim, bystander = await register(live), await register(live)
    conversation = await new_conversation(live, victim)
    phone = await devices().connect(live.base_url, victim["access_token"])
    joined = await phone.call("conversation:join", {"conversation_id": conversation})
    assert joined["ok"] is True, joined
    other = await devices().connect(live.base_url, bystander["access_token"])

    db = app_state(live).settings.mongodb_db
    await disable_behind_the_servers_back(mongo_url, db, victim["user"]["id"])
    # A silent socket sends no event that would be refused: the heartbeat finds it.
    async with asyncio.timeout(10):
        await phone.disconnected.wait()
    assert phone.named("auth:expired") == [{"reason": "disabled"}]
    await asyncio.sleep(2)  # another heartbeat: the enabled user's socket stays
    assert other.sio.connected
