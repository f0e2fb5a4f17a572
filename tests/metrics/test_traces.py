"""Traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, spans of HTTP requests, MongoDB commands, Redis
commands and AI provider calls reach an OTLP/HTTP receiver run here (and the SDK's in-memory
exporter), and none of them carries the learner's text, a password, a token or a query."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from server import telemetry
from server.app import create_app
from tests.chat.helpers import message_body
from tests.conftest import _drop, make_settings

pytestmark = pytest.mark.slow

SECRET_TEXT = "purple-elephant-" + uuid.uuid4().hex[:8]
PASSWORD = "correct horse " + uuid.uuid4().hex[:8]


class Receiver:
    """A minimal OTLP/HTTP trace receiver: POST /v1/traces with a protobuf body."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def _traces(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        body = await request.read()
        self.raw.append(body)
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        for resource_spans in export.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        {
                            "name": span.name,
                            "service": resource.get("service.name"),
                            "attributes": {a.key: _value(a.value) for a in span.attributes},
                            "status": span.status.message,
                        }
                    )
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


@pytest.fixture(scope="module")
async def traced(
    mongo_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, Receiver, InMemorySpanExporter]]:
    receiver = await Receiver().start()
    settings = make_settings(
        mongo_url,
        Path(tmp_path_factory.mktemp("traces")),
        redis_url=redis_url,
        otel_exporter_otlp_endpoint=receiver.url,
        ai_daily_budget_usd=None,
    )
    app = create_app(settings)
    provider = telemetry.tracer_provider()
    assert provider is not None
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client, receiver, memory
    finally:
        await asyncio.to_thread(telemetry.stop_tracing)
        await receiver.stop()
        await _drop(settings, mongo_url)


async def test_spans_of_requests_database_redis_and_ai_reach_the_collector(
    traced: tuple[httpx.AsyncClient, Receiver, InMemorySpanExporter],
) -> None:
    client, receiver, memory = traced
    body = {"email": f"{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD}
    registered = await client.post("/api/v1/auth/register", json={**body, "display_name": "A"})
    assert registered.status_code == 201, registered.text
    token = registered.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    conv = (await client.post("/api/v1/conversations", json={}, headers=auth)).json()["id"]
    listed = await client.get("/api/v1/conversations?limit=7&cursor=", headers=auth)
    assert listed.status_code == 200
    sent = await client.post(
        f"/api/v1/conversations/{conv}/messages",
        json=message_body(f"Explain {SECRET_TEXT} in physics", provider="offline"),
        headers=auth,
    )
    assert sent.status_code == 201, sent.text
    provider = telemetry.tracer_provider()
    assert provider is not None
    # In a thread: the exporter posts to the receiver served by this very event loop.
    assert await asyncio.to_thread(provider.force_flush, 10_000)
    for _ in range(100):
        if any(s["name"].startswith("chat ") for s in receiver.spans):
            break
        await asyncio.sleep(0.05)

    spans = receiver.spans
    assert {s["service"] for s in spans} == {"starguide"}
    http = [s for s in spans if s["attributes"].get("http.route")]
    routes = {s["attributes"]["http.route"] for s in http}
    assert "/api/v1/conversations/{conversation_id}/messages" in routes, routes
    mongo = [s for s in spans if s["attributes"].get("db.system") == "mongodb"]
    assert mongo and all(s["attributes"].get("db.statement", "").isalpha() for s in mongo), [
        s["attributes"].get("db.statement") for s in mongo
    ][:5]
    assert any(s["attributes"].get("db.system") == "redis" for s in spans)
    ai = [s for s in spans if s["name"].startswith("chat ")]
    assert len(ai) == 1
    attributes = ai[0]["attributes"]
    assert attributes["gen_ai.system"] == "offline"
    assert attributes["gen_ai.request.model"] == sent.json()["assistant_message"]["model"]
    reply_usage = sent.json()["assistant_message"]["usage"]
    assert attributes["gen_ai.usage.output_tokens"] == reply_usage["output_tokens"]
    assert attributes["gen_ai.response.finish_reasons"] == ["stop"]

    # The in-memory exporter saw the same spans as the collector.
    names = {s.name for s in memory.get_finished_spans()}
    assert {s["name"] for s in spans} <= names
    # Nothing private anywhere: not the message, the password, the token, the e-mail or a query.
    everything = b"".join(receiver.raw)
    for private in (SECRET_TEXT, PASSWORD, token, body["email"], "limit=7"):
        assert private.encode() not in everything, private
        for span in memory.get_finished_spans():
            for value in (span.attributes or {}).values():
                assert private not in str(value), (span.name, value)
