"""Send rate limit and daily AI budget, shared through Redis by two instances of the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId

from models import AiUsageDay, Message, Organization
from server.config import Settings
from tests.ai_router.fakes import Behaviour, FakeVendors
from tests.chat.helpers import message_body, new_conversation
from tests.conftest import Api, make_settings, vendor_settings


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_server: FakeVendors,
) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("data"),
        redis_url=redis_url,
        ai_providers="openai,offline",
        chat_rate_limit="3/minute",
        # Enough for one request's worst case, so the router still picks a paid model.
        ai_daily_budget_usd=0.05,
        **vendor_settings(fake_server),
    )


@pytest.fixture(scope="module")
async def second(app_settings: Settings, app: Any) -> AsyncIterator[Api]:
    """Another instance of the app on the same database and Redis."""
    from server.app import create_app

    other = create_app(app_settings)
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            yield Api(client)


async def test_send_rate_limit_is_shared_by_instances(api: Api, second: Api) -> None:
    me = await api.register()
    conv = await new_conversation(api.client, me["auth"])
    url = f"/api/v1/conversations/{conv}/messages"
    clients = [api.client, second.client, api.client]
    for client in clients:
        ok = await client.post(url, json=message_body("hi", provider="offline"), headers=me["auth"])
        assert ok.status_code == 201, ok.text
    refused = await second.client.post(
        url, json=message_body("one more", provider="offline"), headers=me["auth"]
    )
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert await Message.find({"conversation_id": PydanticObjectId(conv)}).count() == 6
    # Another learner is not affected.
    other = await api.register()
    conv2 = await new_conversation(api.client, other["auth"])
    fine = await second.client.post(
        f"/api/v1/conversations/{conv2}/messages",
        json=message_body("hi", provider="offline"),
        headers=other["auth"],
    )
    assert fine.status_code == 201


async def test_daily_budget_stops_sends_once_spent(
    api: Api, second: Api, fakes: FakeVendors
) -> None:
    # A long question on the strong model, with counts the vendor may plausibly report for it
    # (reported usage is checked against the text, see docs/AI_ROUTER.md): its cost uses up the
    # whole day's budget, though its worst case fitted before the call.
    fakes.script("openai", Behaviour(usage=(30_000, 1000)))
    question = "A 2 kg block slides down a 30 degree incline. Find its acceleration. " * 110
    me = await api.register()
    conv = await new_conversation(api.client, me["auth"])
    url = f"/api/v1/conversations/{conv}/messages"
    first = await api.client.post(
        url, json=message_body(question.strip(), provider="openai"), headers=me["auth"]
    )
    assert first.status_code == 201
    cost = first.json()["assistant_message"]["usage"]["cost_usd"]
    assert first.json()["assistant_message"]["usage"]["estimated"] is False
    assert cost > 0.05
    day = await AiUsageDay.find_one({"user_id": PydanticObjectId(me["user"]["id"])})
    assert day is not None and day.cost_usd == pytest.approx(cost)
    assert day.providers["openai"].requests == 1
    refused = await second.client.post(
        url, json=message_body("And momentum?", provider="openai"), headers=me["auth"]
    )
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "ai_budget_exceeded"
    assert int(refused.headers["Retry-After"]) >= 1
    assert await Message.find({"conversation_id": PydanticObjectId(conv)}).count() == 2


async def test_an_organizations_budget_overrides_the_default(api: Api) -> None:
    await Organization(name="Generous", slug="generous", daily_ai_budget_usd=100.0).insert()
    me = await api.register(org_slug="generous")
    conv = await new_conversation(api.client, me["auth"])
    url = f"/api/v1/conversations/{conv}/messages"
    for text in ("Explain inertia", "And momentum?"):
        response = await api.client.post(
            url, json=message_body(text, provider="openai"), headers=me["auth"]
        )
        assert response.status_code == 201, response.text


async def test_parallel_resends_charge_the_rate_limit_once(api: Api) -> None:
    import asyncio

    me = await api.register()
    conv = await new_conversation(api.client, me["auth"])
    url = f"/api/v1/conversations/{conv}/messages"
    body = message_body("What is entropy?", provider="offline")
    responses = await asyncio.gather(
        *[api.client.post(url, json=body, headers=me["auth"]) for _ in range(10)]
    )
    assert {r.status_code for r in responses} == {201}
    for text in ("second", "third"):  # the limit is 3 per minute: two more fit
        ok = await api.client.post(
            url, json=message_body(text, provider="offline"), headers=me["auth"]
        )
        assert ok.status_code == 201, ok.text
    refused = await api.client.post(
        url, json=message_body("fourth", provider="offline"), headers=me["auth"]
    )
    assert refused.status_code == 429
