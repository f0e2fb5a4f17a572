"""GET /progress/me and GET /achievements through the API, after chatting over REST."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from models import XpEvent
from server.config import Settings
from server.progress.catalog import load_catalog
from tests.chat.helpers import message_body, new_conversation
from tests.conftest import Api, make_settings


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("data"),
        ai_providers="offline",
        chat_rate_limit="1000/minute",
        ai_daily_budget_usd=None,
    )


async def _send(api: Api, auth: dict[str, str], conversation: str, body: dict[str, Any]) -> None:
    response = await api.client.post(
        f"/api/v1/conversations/{conversation}/messages", json=body, headers=auth
    )
    assert response.status_code == 201, response.text


async def test_chatting_shows_up_in_progress_and_achievements(api: Api, app: Any) -> None:
    me = await api.register(exam="JEE")
    zone = {"timezone": "America/Los_Angeles"}
    assert (await api.client.patch("/api/v1/users/me", json=zone, headers=me["auth"])).is_success
    conversation = await new_conversation(api.client, me["auth"])
    first = message_body("I don't understand projectile motion at all", provider="offline")
    await _send(api, me["auth"], conversation, first)
    await _send(api, me["auth"], conversation, first)  # a re-send stores, and earns, nothing
    await _send(api, me["auth"], conversation, message_body("And the range?", provider="offline"))
    await app.state.ctx.progress.drain()

    today = datetime.now(ZoneInfo("America/Los_Angeles")).date().isoformat()
    response = await api.client.get("/api/v1/progress/me", headers=me["auth"])
    assert response.status_code == 200, response.text
    body = response.json()
    # Two messages at 2 XP, plus 5 for the "first_question" badge.
    assert body["xp"] == 9 and body["xp_this_week"] == 9
    assert (body["level"], body["level_xp"], body["next_level_xp"]) == (1, 0, 100)
    assert body["streak"] == {"current": 1, "longest": 1, "last_active_day": today, "freezes": 0}
    assert body["daily_goal"] == {"target_xp": 10, "xp_today": 4, "met": False}
    assert body["topics"] == [] and body["reviews_due"] == 0
    weak = body["weak_topics"]
    assert weak and set(weak[0]) >= {"topic_id", "name", "subject", "score", "updated_at"}
    assert await XpEvent.find({"source": "chat", "local_day": today}).count() == 2

    listed = await api.client.get("/api/v1/achievements", headers=me["auth"])
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [i["code"] for i in items] == [s.code for s in load_catalog()]
    earned = {i["code"]: i["earned_at"] for i in items}
    assert earned.pop("first_question") is not None
    assert set(earned.values()) == {None}
    first_item = items[0]
    assert set(first_item) >= {
        "code", "name", "description", "tier", "xp_reward", "criteria", "image", "earned_at",
    }  # fmt: skip
    assert first_item["criteria"] == {
        "metric": "chat_messages",
        "threshold": 1,
        "narrative": "Send one message to the mentor.",
    }


async def test_a_new_learner_starts_at_zero(api: Api) -> None:
    me = await api.register()
    body = (await api.client.get("/api/v1/progress/me", headers=me["auth"])).json()
    assert (body["xp"], body["level"], body["next_level_xp"], body["xp_this_week"]) == (
        0,
        1,
        100,
        0,
    )
    assert body["streak"] == {"current": 0, "longest": 0, "last_active_day": None, "freezes": 0}
    listed = (await api.client.get("/api/v1/achievements", headers=me["auth"])).json()
    assert {i["earned_at"] for i in listed["items"]} == {None}


@pytest.mark.parametrize("path", ["/api/v1/progress/me", "/api/v1/achievements"])
async def test_a_token_is_required(api: Api, path: str) -> None:
    response = await api.client.get(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"


async def test_openapi_documents_the_routes(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    for path, model in (
        ("/api/v1/progress/me", "ProgressPublic"),
        ("/api/v1/achievements", "AchievementList"),
        ("/api/v1/leaderboard", "LeaderboardPublic"),
        ("/api/v1/quiz/next", "NextQuestion"),
        ("/api/v1/groups/{group_id}/progress", "GroupProgress"),
    ):
        get = schema["paths"][path]["get"]
        assert get["summary"]
        ref = get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith(f"/{model}")
    progress = schema["components"]["schemas"]["ProgressPublic"]["properties"]
    assert {"xp", "level", "next_level_xp", "xp_this_week", "streak", "topics", "weak_topics",
            "reviews_due"} <= set(progress)  # fmt: skip
    attempt = schema["paths"]["/api/v1/quiz/attempts"]["post"]
    assert attempt["summary"] and "201" in attempt["responses"]
    board = schema["paths"]["/api/v1/leaderboard"]["get"]["parameters"]
    assert {p["name"] for p in board} >= {"scope", "period", "group_id", "week", "limit"}
