"""Disabling an account ends its live sessions at once (the admin API of issue 7 calls this)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId

from server.app import create_app
from server.users import service as users_service
from tests.conftest import LiveServer, _drop, free_port, make_settings
from tests.realtime.conftest import APP_ORIGIN, Device


@pytest.fixture(scope="module")
async def live(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    """In this process (the test calls the service directly), served by a real uvicorn."""
    settings = make_settings(
        mongo_url, Path(tmp_path_factory.mktemp("disable")), cors_origins=[APP_ORIGIN]
    )
    app = create_app(settings)
    server = await LiveServer(app.state.gateway.asgi(app), free_port()).start()
    yield app, server
    await server.stop()
    await _drop(settings, mongo_url)


async def test_disabling_a_user_disconnects_their_sockets_and_refuses_new_ones(
    live: Any, devices: Callable[[], Device]
) -> None:
    app, server = live
    target = server.base_url
    async with httpx.AsyncClient(base_url=f"{server.base_url}/api/v1") as client:
        registered = []
        for email in ("disabled@example.com", "bystander@example.com"):
            response = await client.post(
                "/auth/register",
                json={"email": email, "password": "correct horse battery", "display_name": "A"},
            )
            assert response.status_code == 201
            registered.append(response.json())
    victim, bystander = registered
    phone = await devices().connect(target, victim["access_token"])
    laptop = await devices().connect(target, victim["access_token"])
    other = await devices().connect(target, bystander["access_token"])

    found = await users_service.set_disabled(
        state=app.state.ctx, user_id=PydanticObjectId(victim["user"]["id"]), disabled=True
    )
    assert found is True
    async with asyncio.timeout(10):
        await phone.disconnected.wait()
        await laptop.disconnected.wait()
    assert phone.named("auth:expired") == [{"reason": "disabled"}]
    assert other.sio.connected

    again = devices()
    with pytest.raises(Exception, match="namespace"):
        await again.connect(target, victim["access_token"])
    assert again.connect_errors[0]["data"]["code"] == "session_revoked"
    async with httpx.AsyncClient(base_url=f"{server.base_url}/api/v1") as client:
        refresh = await client.post(
            "/auth/refresh", json={"refresh_token": victim["refresh_token"]}
        )
    assert refresh.status_code == 401
    missing = await users_service.set_disabled(
        state=app.state.ctx, user_id=PydanticObjectId(), disabled=True
    )
    assert missing is False
