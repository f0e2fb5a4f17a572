"""An ended session's access tokens stop working at once, on REST and on sockets (one instance,
no Redis: the ended sessions are kept in memory). Served by a real uvicorn for the sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from beanie import PydanticObjectId

from models import AuditLog, RefreshToken
from server.app import create_app
from server.users import service as users_service
from tests.conftest import LiveServer, _drop, free_port, make_settings
from tests.realtime.conftest import APP_ORIGIN, PASSWORD, Device

Session = dict[str, Any]


@pytest.fixture(scope="module")
async def live(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    settings = make_settings(
        mongo_url, Path(tmp_path_factory.mktemp("sessions")), cors_origins=[APP_ORIGIN]
    )
    app = create_app(settings)
    server = await LiveServer(app.state.gateway.asgi(app), free_port()).start()
    yield app, server
    await server.stop()
    await _drop(settings, mongo_url)


@pytest.fixture
async def devices() -> AsyncIterator[Callable[[], Device]]:
    made: list[Device] = []

    def make() -> Device:
        made.append(Device())
        return made[-1]

    yield make
    for device in made:
        await device.close()


@pytest.fixture
async def rest(live: Any) -> AsyncIterator[httpx.AsyncClient]:
    _, server = live
    async with server.client() as client:
        client.base_url = httpx.URL(f"{server.base_url}/api/v1")
        yield client


async def _sign_up(rest: httpx.AsyncClient) -> Session:
    email = f"{PydanticObjectId()}@example.com"
    response = await rest.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "display_name": "Asha"}
    )
    assert response.status_code == 201, response.text
    session: Session = response.json()
    return session


async def _log_in(rest: httpx.AsyncClient, email: str) -> Session:
    response = await rest.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    session: Session = response.json()
    return session


def _family(session: Session) -> str:
    claims = jwt.decode(session["access_token"], options={"verify_signature": False})
    return str(claims["fid"])


async def _me(rest: httpx.AsyncClient, session: Session) -> httpx.Response:
    return await rest.get(
        "/users/me", headers={"Authorization": f"Bearer {session['access_token']}"}
    )


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def _refused_socket(live: Any, devices: Callable[[], Device], token: str) -> str:
    _, server = live
    device = devices()
    with pytest.raises(Exception, match="namespace"):
        await device.connect(server.base_url, token)
    return str(device.connect_errors[0]["data"]["code"])


async def _reuse_audits(family_id: str) -> int:
    return await AuditLog.find({"action": "auth.refresh_reuse", "target_id": family_id}).count()


async def test_logout_ends_the_sessions_access_tokens_on_rest_and_sockets(
    live: Any, rest: httpx.AsyncClient, devices: Callable[[], Device]
) -> None:
    _, server = live
    laptop_session = await _sign_up(rest)
    phone_session = await _log_in(rest, laptop_session["user"]["email"])
    laptop = await devices().connect(server.base_url, laptop_session["access_token"])
    phone = await devices().connect(server.base_url, phone_session["access_token"])

    out = await rest.post("/auth/logout", json={"refresh_token": laptop_session["refresh_token"]})
    assert out.status_code == 204
    me = await _me(rest, laptop_session)
    assert me.status_code == 401 and _code(me) == "session_revoked"
    assert me.headers["WWW-Authenticate"] == "Bearer"
    async with asyncio.timeout(10):
        await laptop.disconnected.wait()
    assert laptop.named("auth:expired") == [{"reason": "logged_out"}]
    assert await _refused_socket(live, devices, laptop_session["access_token"]) == (
        "session_revoked"
    )
    # The spent-and-revoked refresh token is not "reuse": no false alarm in the audit log.
    again = await rest.post(
        "/auth/refresh", json={"refresh_token": laptop_session["refresh_token"]}
    )
    assert again.status_code == 401 and _code(again) == "session_revoked"
    assert await _reuse_audits(_family(laptop_session)) == 0
    # Logging out again is harmless.
    repeat = await rest.post(
        "/auth/logout", json={"refresh_token": laptop_session["refresh_token"]}
    )
    assert repeat.status_code == 204
    # The other session goes on.
    assert (await _me(rest, phone_session)).status_code == 200
    assert phone.sio.connected


async def test_refresh_token_reuse_ends_the_sessions_access_tokens(
    live: Any, rest: httpx.AsyncClient, devices: Callable[[], Device]
) -> None:
    first = await _sign_up(rest)
    rotated = await rest.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second: Session = rotated.json()
    assert (await _me(rest, second)).status_code == 200

    stolen = await rest.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert stolen.status_code == 401 and _code(stolen) == "refresh_token_reused"
    for session in (first, second):
        me = await _me(rest, session)
        assert me.status_code == 401 and _code(me) == "session_revoked"
    assert await _refused_socket(live, devices, second["access_token"]) == "session_revoked"
    assert await _reuse_audits(_family(first)) == 1
    # Now that the session is over, its tokens are revoked ones, not reused ones.
    for token in (first["refresh_token"], second["refresh_token"]):
        late = await rest.post("/auth/refresh", json={"refresh_token": token})
        assert late.status_code == 401 and _code(late) == "session_revoked"
    assert await _reuse_audits(_family(first)) == 1


async def test_disabling_ends_every_session_and_enabling_does_not_revive_them(
    live: Any, rest: httpx.AsyncClient, devices: Callable[[], Device]
) -> None:
    app, _ = live
    state = app.state.ctx
    one = await _sign_up(rest)
    two = await _log_in(rest, one["user"]["email"])
    user_id = PydanticObjectId(one["user"]["id"])
    assert await users_service.set_disabled(state=state, user_id=user_id, disabled=True)
    assert await users_service.set_disabled(state=state, user_id=user_id, disabled=False)
    for session in (one, two):
        me = await _me(rest, session)
        assert me.status_code == 401 and _code(me) == "session_revoked"
        refresh = await rest.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert refresh.status_code == 401 and _code(refresh) == "session_revoked"
    assert await _refused_socket(live, devices, two["access_token"]) == "session_revoked"
    assert await RefreshToken.find({"user_id": user_id, "revoked_at": None}).count() == 0
    fresh = await _log_in(rest, one["user"]["email"])
    assert (await _me(rest, fresh)).status_code == 200


async def test_erasure_ends_every_session(rest: httpx.AsyncClient) -> None:
    one = await _sign_up(rest)
    two = await _log_in(rest, one["user"]["email"])
    erased = await rest.delete(
        "/users/me", headers={"Authorization": f"Bearer {one['access_token']}"}
    )
    assert erased.status_code == 204
    for session in (one, two):
        me = await _me(rest, session)
        assert me.status_code == 401 and _code(me) == "session_revoked"
