"""`xp:gained` and `achievement:unlocked` reach the learner's sockets through the real gateway
after a REST send (uvicorn in this event loop, python-socketio's client over websockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio

from server.config import Settings
from tests.chat.helpers import message_body, new_conversation
from tests.conftest import LiveServer, free_port, make_settings


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        mongo_url, tmp_path_factory.mktemp("data"), ai_providers="offline", daily_goal_xp=2
    )


@pytest.fixture(scope="module")
async def live(app_settings: Settings) -> AsyncIterator[LiveServer]:
    from server.app import create_asgi_app

    server = await LiveServer(create_asgi_app(app_settings), free_port()).start()
    yield server
    await server.stop()


async def test_awards_and_unlocks_are_pushed_to_the_users_room(live: LiveServer) -> None:
    async with live.client() as client:
        response = await client.post(
            "/api/v1/auth/register",
            json={"email": "notify@example.com", "password": "correct horse", "display_name": "A"},
        )
        assert response.status_code == 201, response.text
        token = response.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        received: list[tuple[str, dict[str, Any]]] = []
        complete = asyncio.Event()
        # A device that never joins the conversation still hears its user's XP.
        device = socketio.AsyncClient(reconnection=False)

        async def record(event: str, data: Any = None) -> None:
            received.append((event, data))
            # chat, daily goal and two badges: four awards, two unlocks
            names = [e for e, _ in received]
            if names.count("xp:gained") >= 4 and names.count("achievement:unlocked") >= 2:
                complete.set()

        device.on("*", record)
        await device.connect(live.base_url, auth={"token": token}, transports=["websocket"])
        try:
            conversation = await new_conversation(client, auth)
            body = message_body("What is a mole?", provider="offline")
            sent = await client.post(
                f"/api/v1/conversations/{conversation}/messages", json=body, headers=auth
            )
            assert sent.status_code == 201, sent.text
            await asyncio.wait_for(complete.wait(), 10)
        finally:
            await device.disconnect()
    gained = [d for e, d in received if e == "xp:gained"]
    # The chat XP first; the daily goal (met at 2 XP here) and the two badges' XP follow.
    assert gained[0] == {"amount": 2, "source": "chat", "xp_total": 2, "level": 1}
    assert sorted(d["source"] for d in gained) == [
        "achievement",
        "achievement",
        "chat",
        "daily_goal",
    ]
    assert max(d["xp_total"] for d in gained) == 2 + 10 + 5 + 10
    unlocked = {d["code"]: d for e, d in received if e == "achievement:unlocked"}
    assert set(unlocked) == {"first_question", "goal_getter"}
    assert unlocked["first_question"]["tier"] == "bronze"
    assert unlocked["first_question"]["xp_reward"] == 5 and unlocked["first_question"]["earned_at"]
