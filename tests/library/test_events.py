"""`document:status` reaches the owner's sockets as processing advances, and nobody else's
(uvicorn in this event loop, python-socketio's client over websockets)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio

from server.config import Settings
from tests.conftest import LiveServer, free_port, make_settings
from tests.library.helpers import make_pdf


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(mongo_url, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
async def live(app_settings: Settings) -> AsyncIterator[LiveServer]:
    from server.app import create_asgi_app

    server = await LiveServer(create_asgi_app(app_settings), free_port()).start()
    yield server
    await server.stop()


async def _register(client: Any) -> str:
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": f"{uuid.uuid4().hex[:10]}@example.com",
            "password": "correct horse",
            "display_name": "A",
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["access_token"])


async def test_status_events_go_to_the_owner_only(live: LiveServer) -> None:
    async with live.client() as client:
        owner, other = await _register(client), await _register(client)
        heard: dict[str, list[tuple[str, Any]]] = {"owner": [], "other": []}
        done = asyncio.Event()
        devices = {}
        for who, token in (("owner", owner), ("other", other)):
            device = socketio.AsyncClient(reconnection=False)

            async def record(event: str, data: Any = None, who: str = who) -> None:
                heard[who].append((event, data))
                if who == "owner" and event == "document:status" and data["status"] == "ready":
                    done.set()

            device.on("*", record)
            await device.connect(live.base_url, auth={"token": token}, transports=["websocket"])
            devices[who] = device
        try:
            pdf = make_pdf([["Page one about vectors."], ["Page two about scalars."]])
            response = await client.post(
                "/api/v1/documents",
                files={"file": ("v.pdf", pdf, "application/pdf")},
                headers={"Authorization": f"Bearer {owner}"},
            )
            assert response.status_code == 202, response.text
            await asyncio.wait_for(done.wait(), 20)
            await asyncio.sleep(0.2)  # anything misrouted would have arrived by now
        finally:
            for device in devices.values():
                await device.disconnect()
    events = [d for e, d in heard["owner"] if e == "document:status"]
    document_id = response.json()["id"]
    assert {e["id"] for e in events} == {document_id}
    assert events[0]["status"] == "processing"
    assert events[-1] == {"id": document_id, "status": "ready", "progress": {"done": 2, "total": 2}}
    assert all(set(e) == {"id", "status", "progress"} for e in events)
    assert [e for e, _ in heard["other"] if e == "document:status"] == []
