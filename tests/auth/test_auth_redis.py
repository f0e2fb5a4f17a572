"""With REDIS_URL, instances agree: login throttling (failures on one instance lock the account
on all, a known device passes everywhere) and ended sessions (refused on every instance)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from redis.asyncio import Redis

from server.app import create_app
from tests.conftest import LiveServer, _drop, free_port, make_settings
from tests.realtime.conftest import APP_ORIGIN, PASSWORD, Device


async def test_failures_on_one_instance_lock_the_account_on_another(
    mongo_url: str, redis_url: str, tmp_path: Path
) -> None:
    db = f"t_{uuid.uuid4().hex[:12]}"
    common = {"mongodb_db": db, "redis_url": redis_url, "login_max_failures": 2}
    app_a = create_app(make_settings(mongo_url, tmp_path, **common))
    app_b = create_app(make_settings(mongo_url, tmp_path, **common))
    async with app_a.router.lifespan_context(app_a), app_b.router.lifespan_context(app_b):
        a = httpx.AsyncClient(transport=httpx.ASGITransport(app=app_a), base_url="http://a")
        b = httpx.AsyncClient(transport=httpx.ASGITransport(app=app_b), base_url="http://b")
        email = f"{uuid.uuid4().hex[:8]}@example.com"
        creds = {"email": email, "password": "right password"}
        created = await a.post("/api/v1/auth/register", json={**creds, "display_name": "Meera"})
        assert created.status_code == 201
        for _ in range(2):
            bad = await a.post("/api/v1/auth/login", json={**creds, "password": "wrong one"})
            assert bad.status_code == 401
        locked = await b.post("/api/v1/auth/login", json=creds)
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "too_many_login_attempts"
        ready = await b.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["redis"]["ok"] is True
        await a.aclose()
        await b.aclose()


@pytest.fixture(autouse=True)
def _needs_redis(redis_url: str) -> None:
    """Requesting the fixture fails loudly when redis-server is missing."""


@pytest.fixture(scope="module")
async def pair(
    mongo_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Any, LiveServer]]:
    """Two instances of one deployment: A in-process, B served by uvicorn (with sockets)."""
    db = f"t_{uuid.uuid4().hex[:12]}"
    common = {
        "mongodb_db": db,
        "redis_url": redis_url,
        "cors_origins": [APP_ORIGIN],
        "login_max_failures": 2,
    }
    app_a = create_app(make_settings(mongo_url, tmp_path_factory.mktemp("a"), **common))
    settings_b = make_settings(mongo_url, tmp_path_factory.mktemp("b"), **common)
    app_b = create_app(settings_b)
    async with app_a.router.lifespan_context(app_a):
        server_b = await LiveServer(app_b.state.gateway.asgi(app_b), free_port()).start()
        yield app_a, server_b
        await server_b.stop()
    await _drop(settings_b, mongo_url)


def _rest_a(pair: tuple[Any, LiveServer], address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=pair[0], client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://a/api/v1")


def _rest_b(pair: tuple[Any, LiveServer]) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{pair[1].base_url}/api/v1", timeout=30)


async def _sign_up(client: httpx.AsyncClient) -> dict[str, Any]:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "display_name": "Asha"}
    )
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()
    return session


def _bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['access_token']}"}


async def test_a_session_ended_on_one_instance_is_refused_on_another(
    pair: tuple[Any, LiveServer], redis_url: str
) -> None:
    server_b = pair[1]
    async with _rest_a(pair) as a, _rest_b(pair) as b:
        session = await _sign_up(a)
        socket = Device()
        refused = Device()
        try:
            await socket.connect(server_b.base_url, session["access_token"])
            assert (await b.get("/users/me", headers=_bearer(session))).status_code == 200
            out = await a.post("/auth/logout", json={"refresh_token": session["refresh_token"]})
            assert out.status_code == 204
            me = await b.get("/users/me", headers=_bearer(session))
            assert me.status_code == 401 and me.json()["error"]["code"] == "session_revoked"
            async with asyncio.timeout(10):
                await socket.disconnected.wait()
            assert socket.named("auth:expired") == [{"reason": "logged_out"}]
            with pytest.raises(Exception, match="namespace"):
                await refused.connect(server_b.base_url, session["access_token"])
            assert refused.connect_errors[0]["data"]["code"] == "session_revoked"
        finally:
            await socket.close()
            await refused.close()
    # The mark lasts as long as an access token could (900 s), plus a minute of slack.
    family = jwt.decode(session["access_token"], options={"verify_signature": False})["fid"]
    redis = Redis.from_url(redis_url)
    try:
        assert 900 < await redis.ttl(f"starguide:session:ended:{family}") <= 960
    finally:
        await redis.aclose()


async def test_reuse_detected_on_one_instance_ends_the_session_on_another(
    pair: tuple[Any, LiveServer],
) -> None:
    async with _rest_a(pair) as a, _rest_b(pair) as b:
        first = await _sign_up(a)
        rotated = await a.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert rotated.status_code == 200
        reused = await b.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert reused.json()["error"]["code"] == "refresh_token_reused"
        me = await a.get("/users/me", headers=_bearer(rotated.json()))
        assert me.status_code == 401 and me.json()["error"]["code"] == "session_revoked"


async def test_a_known_device_passes_the_account_lock_on_every_instance(
    pair: tuple[Any, LiveServer],
) -> None:
    async with _rest_a(pair, "203.0.113.40") as owner, _rest_a(pair, "198.51.100.9") as new:
        session = await _sign_up(owner)
        creds = {"email": session["user"]["email"], "password": PASSWORD}
        assert (await owner.post("/auth/login", json=creds)).status_code == 200
        async with _rest_b(pair) as attacker:  # B's peer is 127.0.0.1: another address
            for _ in range(2):
                guess = await attacker.post("/auth/login", json={**creds, "password": "guess 1"})
                assert guess.status_code == 401
            assert (await attacker.post("/auth/login", json=creds)).status_code == 429
        locked = await new.post("/auth/login", json=creds)
        assert locked.json()["error"]["code"] == "too_many_login_attempts"
        assert (await owner.post("/auth/login", json=creds)).status_code == 200
