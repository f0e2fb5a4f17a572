"""`test:ended` and `assignment:new` reach the learner's sockets through the real gateway
(uvicorn in this event loop, python-socketio's client over websockets); the periodic sweep
ends a test nobody reads again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import socketio
from beanie import PydanticObjectId

from models import MockTest, User, XpEvent
from models.common import utcnow
from server.config import Settings
from tests.conftest import LiveServer, free_port, make_settings


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("data"),
        ai_providers="offline",
        practice_sweep_seconds=0.2,
        practice_grace_seconds=0,
    )


@pytest.fixture(scope="module")
async def live(app_settings: Settings) -> AsyncIterator[LiveServer]:
    from server.app import create_asgi_app

    server = await LiveServer(create_asgi_app(app_settings), free_port()).start()
    yield server
    await server.stop()


async def _register(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": f"{PydanticObjectId()}@example.com",
            "password": "correct horse",
            "display_name": "Asha",
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    data["auth"] = {"Authorization": f"Bearer {data['access_token']}"}
    return data


class Listener:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.arrived = asyncio.Event()
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("*", self._record)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events.append((event, data))
        self.arrived.set()

    async def wait(self, name: str, timeout: float = 10) -> Any:
        async def found() -> Any:
            while True:
                hits = [d for e, d in self.events if e == name]
                if hits:
                    return hits[0]
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(found(), timeout)


async def test_the_sweep_ends_a_forgotten_test_and_tells_the_learner(live: LiveServer) -> None:
    async with live.client() as client:
        learner = await _register(client, exam="JEE")
        listener = Listener()
        await listener.sio.connect(
            live.base_url, auth={"token": learner["access_token"]}, transports=["websocket"]
        )
        try:
            created = await client.post(
                "/api/v1/tests", json={"exam": "JEE", "questions": 6}, headers=learner["auth"]
            )
            assert created.status_code == 201, created.text
            test = created.json()
            first = test["sections"][0]["questions"][0]["id"]
            saved = await client.put(
                f"/api/v1/tests/{test['id']}/answers/{first}",
                json={"option": 0},
                headers=learner["auth"],
            )
            assert saved.status_code == 200
            # Its time runs out; nobody reads it again: only the sweep can end it.
            await MockTest.get_pymongo_collection().update_one(
                {"_id": PydanticObjectId(test["id"])},
                {"$set": {"ends_at": utcnow() - timedelta(seconds=1)}},
            )
            ended = await listener.wait("test:ended")
        finally:
            await listener.sio.disconnect()
    assert ended["test_id"] == test["id"] and ended["reason"] == "time_up"
    assert ended["max_score"] == 24
    doc = await MockTest.get(PydanticObjectId(test["id"]))
    assert doc is not None and doc.status == "submitted" and doc.effects_applied_at is not None
    assert doc.result is not None and doc.result.score == ended["score"]
    assert [e for e, _ in listener.events].count("test:ended") == 1
    user_id = PydanticObjectId(learner["user"]["id"])
    assert await XpEvent.find({"user_id": user_id, "source": "test"}).count() == 1


async def test_members_hear_of_a_new_assignment(live: LiveServer) -> None:
    async with live.client() as client:
        mentor = await _register(client)
        await User.find_one(User.id == PydanticObjectId(mentor["user"]["id"])).update(
            {"$set": {"role": "mentor"}}
        )
        group = (
            await client.post("/api/v1/groups", json={"name": "Batch B"}, headers=mentor["auth"])
        ).json()
        learner = await _register(client)
        joined = await client.post(
            "/api/v1/groups/join",
            json={"invite_code": group["invite_code"]},
            headers=learner["auth"],
        )
        assert joined.status_code == 200
        listener = Listener()
        await listener.sio.connect(
            live.base_url, auth={"token": learner["access_token"]}, transports=["websocket"]
        )
        try:
            due = (utcnow() + timedelta(days=2)).isoformat()
            created = await client.post(
                f"/api/v1/groups/{group['id']}/assignments",
                json={
                    "title": "Kinematics drill",
                    "kind": "topic",
                    "topic_ids": ["physics.kinematics"],
                    "due_at": due,
                },
                headers=mentor["auth"],
            )
            assert created.status_code == 201, created.text
            event = await listener.wait("assignment:new")
        finally:
            await listener.sio.disconnect()
    assert event == {
        "id": created.json()["id"],
        "group_id": group["id"],
        "group_name": "Batch B",
        "title": "Kinematics drill",
        "kind": "topic",
        "due_at": event["due_at"],
    }
    assert event["due_at"].startswith(due[:19])
