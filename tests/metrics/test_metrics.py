"""GET /metrics on a live server (real uvicorn, real sockets), read with prometheus_client's own
text parser: route templates, statuses, histograms, chat replies and TTFT, tokens and cost,
breakers, sockets, jobs, and who may scrape.

Metrics are process-wide, so the assertions compare a scrape with the one before it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import socketio
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from server.config import Settings
from server.metrics import exposition
from tests.ai_router.fakes import Behaviour, FakeVendors
from tests.chat.helpers import message_body, parse_sse, sse_headers
from tests.conftest import LiveServer, _drop, free_port, make_settings

pytestmark = pytest.mark.slow

TOKEN = "scrape-" + uuid.uuid4().hex
ORIGIN = "http://localhost:3000"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory, fake_server: FakeVendors
) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("metrics"),
        ai_providers="openai,offline",
        openai_api_key="test-key-openai-SECRET",
        openai_base_url=fake_server.openai_url,
        ai_daily_budget_usd=None,
        chat_rate_limit="1000/minute",
        metrics_token=TOKEN,
        jobs_extra_handlers=["tests.jobs.handlers:register_jobs"],
    )


@pytest.fixture(scope="module")
async def live(app_settings: Settings, mongo_url: str) -> AsyncIterator[tuple[FastAPI, str]]:
    app = create_app(app_settings)

    async def broken_route(item_id: str) -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/test-broken/{item_id}", broken_route, methods=["GET"])
    server = await LiveServer(app.state.gateway.asgi(app), free_port()).start()
    yield app, server.base_url
    await server.stop()
    await _drop(app_settings, mongo_url)


@pytest.fixture
async def client(live: tuple[FastAPI, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live[1], timeout=30) as http:
        yield http


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def matching(samples: Samples, name: str, **labels: str) -> dict[frozenset[Any], float]:
    wanted = set(labels.items())
    return {k[1]: v for k, v in samples.items() if k[0] == name and wanted <= set(k[1])}


async def learner(client: httpx.AsyncClient) -> dict[str, Any]:
    body = {
        "email": f"{uuid.uuid4().hex[:10]}@example.com",
        "password": "correct horse battery",
        "display_name": "Asha",
    }
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    me: dict[str, Any] = response.json()
    me["auth"] = {"Authorization": f"Bearer {me['access_token']}"}
    created = await client.post("/api/v1/conversations", json={}, headers=me["auth"])
    me["conv"] = created.json()["id"]
    return me


async def test_requests_are_counted_by_route_template_method_and_status(
    client: httpx.AsyncClient,
) -> None:
    me = await learner(client)
    conv_route = "/api/v1/conversations/{conversation_id}"
    before = await scrape(client)
    assert (await client.get(f"/api/v1/conversations/{me['conv']}", headers=me["auth"])).is_success
    missing = await client.get(f"/api/v1/conversations/{'0' * 24}", headers=me["auth"])
    assert missing.status_code == 404
    assert (await client.get(f"/no/such/{uuid.uuid4().hex}")).status_code == 404
    assert (await client.get("/api/v1/test-broken/42")).status_code == 500
    response = await client.get("/metrics")
    after = await scrape(client)

    def delta(route: str, status: str, method: str = "GET") -> float:
        labels = {"route": route, "method": method, "status": status}
        name = "starguide_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(conv_route, "200") == 1 and delta(conv_route, "404") == 1
    assert delta("unmatched", "404") == 1
    assert delta("/api/v1/test-broken/{item_id}", "500") == 1
    assert delta("/metrics", "200") >= 1 and response.status_code == 200
    # No raw path, id or address ever becomes a label.
    routes = {dict(k[1])["route"] for k in after if "route" in dict(k[1])}
    assert all(r == "unmatched" or r.startswith("/") for r in routes)
    assert not any(me["conv"] in r or "42" in r or "/no/such" in r for r in routes)
    # The latency histogram: cumulative buckets up to +Inf, whose count is the request count.
    # (GET only: the registry is the process's, and other tests PATCH or DELETE this route.)
    buckets = matching(
        after, "starguide_http_request_duration_seconds_bucket", route=conv_route, method="GET"
    )
    by_le = {dict(labels)["le"]: v for labels, v in buckets.items()}
    assert {"0.005", "0.1", "1.0", "+Inf"} <= set(by_le)
    assert list(by_le.values()) == sorted(by_le.values())
    count = value(
        after, "starguide_http_request_duration_seconds_count", route=conv_route, method="GET"
    )
    total = sum(
        matching(after, "starguide_http_requests_total", route=conv_route, method="GET").values()
    )
    assert by_le["+Inf"] == count == total


async def test_chat_replies_ttft_tokens_and_cost(
    client: httpx.AsyncClient, fakes: FakeVendors
) -> None:
    me = await learner(client)
    url = f"/api/v1/conversations/{me['conv']}/messages"
    before = await scrape(client)
    # Streamed from the offline provider, over SSE.
    async with client.stream(
        "POST",
        url,
        json=message_body("What is Newton's second law?", provider="offline"),
        headers=sse_headers(me["auth"]),
    ) as stream:
        text = "".join([chunk async for chunk in stream.aiter_text()])
    offline_end = parse_sse(text).named("assistant:end")[0]
    # And from a vendor through its SDK, which reports usage and costs money.
    fakes.script("openai", Behaviour(usage=(400, 9)))
    sent = await client.post(
        url, json=message_body("Explain osmosis", provider="openai"), headers=me["auth"]
    )
    assert sent.status_code == 201, sent.text
    openai_reply = sent.json()["assistant_message"]
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    offline = {"provider": "offline", "model": offline_end["model"]}
    openai = {"provider": "openai", "model": openai_reply["model"]}
    assert delta("starguide_chat_replies_total", status="complete", **offline) == 1
    assert delta("starguide_chat_replies_total", status="complete", **openai) == 1
    ttft = "starguide_chat_time_to_first_token_seconds"
    assert delta(f"{ttft}_count", provider="offline") == 1
    assert delta(f"{ttft}_count", provider="openai") == 1
    assert 0 < delta(f"{ttft}_sum", provider="offline") < 10
    assert delta(f"{ttft}_bucket", provider="offline", le="+Inf") == 1
    tokens = "starguide_ai_tokens_total"
    assert delta(tokens, direction="input", **openai) == 400
    assert delta(tokens, direction="output", **openai) == 9
    assert delta(tokens, direction="output", **offline) == offline_end["usage"]["output_tokens"]
    cost = delta("starguide_ai_cost_usd_total", **openai)
    assert cost == pytest.approx(openai_reply["usage"]["cost_usd"]) and cost > 0


async def test_open_sockets_follow_real_connections(
    client: httpx.AsyncClient,
) -> None:
    me = await learner(client)
    before = value(await scrape(client), "starguide_open_sockets")
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(
        str(client.base_url),
        auth={"token": me["access_token"]},
        headers={"Origin": ORIGIN},
        transports=["websocket"],
        wait_timeout=10,
    )
    try:
        assert value(await scrape(client), "starguide_open_sockets") == before + 1
    finally:
        await sio.disconnect()
    for _ in range(100):
        if value(await scrape(client), "starguide_open_sockets") == before:
            break
        await asyncio.sleep(0.05)
    assert value(await scrape(client), "starguide_open_sockets") == before


async def test_jobs_by_state_and_attempts_by_outcome(
    client: httpx.AsyncClient, live: tuple[FastAPI, str]
) -> None:
    jobs = live[0].state.ctx.jobs
    before = await scrape(client)
    job_id = await jobs.enqueue("test.sleep", {"seconds": 0.6})
    for _ in range(100):
        info = await jobs.get(job_id)
        if info is not None and info.status == "running":
            break
        await asyncio.sleep(0.01)
    running = await scrape(client)
    assert value(running, "starguide_jobs", state="running") == 1
    assert value(running, "starguide_jobs", state="queued") == 0
    failing = await jobs.enqueue("test.broken", {})
    for _ in range(200):
        done, broken = await jobs.get(job_id), await jobs.get(failing)
        if done and broken and done.status == "complete" and broken.status == "failed":
            break
        await asyncio.sleep(0.02)
    after = await scrape(client)
    assert value(after, "starguide_jobs", state="running") == 0
    attempts = "starguide_job_attempts_total"
    complete = {"job": "test.sleep", "outcome": "complete"}
    failed = {"job": "test.broken", "outcome": "failed"}
    assert value(after, attempts, **complete) - value(before, attempts, **complete) == 1
    assert value(after, attempts, **failed) - value(before, attempts, **failed) == 1


async def test_breaker_states_are_read_from_the_router(
    client: httpx.AsyncClient, fakes: FakeVendors
) -> None:
    before = await scrape(client)
    assert value(before, "starguide_ai_breaker_state", provider="openai") == 0
    assert value(before, "starguide_ai_breaker_state", provider="offline") == 0
    # Bad credentials open the provider's breaker at once (for the long auth cooldown).
    fakes.script("openai", Behaviour(kind="status", status=401))
    me = await learner(client)
    await client.post(
        f"/api/v1/conversations/{me['conv']}/messages",
        json=message_body("Explain osmosis", provider="openai"),
        headers=me["auth"],
    )
    after = await scrape(client)
    assert value(after, "starguide_ai_breaker_state", provider="openai") == 2
    assert value(after, "starguide_ai_breaker_consecutive_failures", provider="openai") >= 1
    assert value(after, "starguide_ai_breaker_state", provider="offline") == 0


async def test_only_allowed_addresses_or_the_token_may_scrape(
    client: httpx.AsyncClient,
) -> None:
    # 127.0.0.1 is a trusted proxy (FORWARDED_ALLOW_IPS' default): the client it names counts.
    outside = {"X-Forwarded-For": "203.0.113.9"}
    # The loopback test client itself scrapes (METRICS_ALLOW's default) ...
    assert (await scrape(client)) != {}
    # ... but a request that names a forwarded client never passes on its address, even a
    # loopback one: the left-most hops are whatever the client wrote (with FORWARDED_ALLOW_IPS=*
    # they are the address believed), so a spoofed header must not open the metrics.
    for spoofed in ("127.0.0.1", "::1", "203.0.113.9, 127.0.0.1"):
        forged = await client.get("/metrics", headers={"X-Forwarded-For": spoofed})
        assert forged.status_code == 404, spoofed
        assert "starguide_" not in forged.text
    refused = await client.get("/metrics", headers=outside)
    assert refused.status_code == 404
    # Exactly what an unknown route answers: nothing says that /metrics exists.
    unknown = await client.get(f"/no/such/{uuid.uuid4().hex}")
    assert refused.json() == unknown.json()
    assert refused.json()["error"]["code"] == "not_found"
    wrong = await client.get("/metrics", headers={**outside, "Authorization": "Bearer nope"})
    assert wrong.status_code == 404 and "starguide_" not in wrong.text
    assert (await scrape(client, **outside, Authorization=f"Bearer {TOKEN}")) != {}
    # A peer that is not a trusted proxy cannot borrow a loopback address either.
    assert (
        exposition.allowed(
            address="203.0.113.9", authorization=None, allow=["127.0.0.1"], token=TOKEN
        )
        is False
    )
    assert exposition.allowed(
        address="10.1.2.3", authorization=None, allow=["10.0.0.0/8"], token=None
    )
    assert not exposition.allowed(address=None, authorization=None, allow=["*"], token=None)
    assert exposition.allowed(
        address=None, authorization=f"Bearer {TOKEN}", allow=["127.0.0.1"], token=TOKEN
    )
    forwarded = {"client": ("127.0.0.1", 5000), "headers": [(b"x-forwarded-for", b"1.2.3.4")]}
    assert exposition.direct_peer(forwarded) is None
    assert exposition.direct_peer({"client": ("::ffff:10.0.0.7", 5000), "headers": []}) == (
        "10.0.0.7"
    )
    assert not exposition.allowed(
        address="10.1.2.3", authorization=f"Bearer {TOKEN}", allow=["::1"], token=None
    )
