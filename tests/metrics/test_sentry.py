"""Sentry: with SENTRY_DSN set, an unhandled error reaches a Sentry endpoint run here (the real
SDK, its real HTTP transport), without the request body, secrets in headers, or the query."""

from __future__ import annotations

import gzip
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk

from server import telemetry
from server.app import create_app
from tests.conftest import _drop, make_settings

pytestmark = pytest.mark.slow

PASSWORD = "hunter2-" + uuid.uuid4().hex[:8]
BEARER = "sekrit-" + uuid.uuid4().hex[:8]
LEAKED = f"kiran-{uuid.uuid4().hex[:8]}@school.example"


class SentryIntake:
    """Accepts Sentry envelopes (POST /api/<project>/envelope/) and keeps them decoded."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.items: list[tuple[dict[str, Any], Any]] = []
        intake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "br":
                    import brotli

                    body = brotli.decompress(body)
                intake.receive(self.path, body)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def receive(self, path: str, body: bytes) -> None:
        assert path == "/api/1/envelope/", path
        self.raw.append(body)
        lines = body.split(b"\n")
        index = 1  # the envelope's own header comes first
        while index < len(lines) and lines[index]:
            header = json.loads(lines[index])
            payload = lines[index + 1] if index + 1 < len(lines) else b""
            self.items.append((header, json.loads(payload) if payload.strip() else None))
            index += 2

    def events(self) -> list[dict[str, Any]]:
        return [payload for header, payload in self.items if header.get("type") == "event"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def intake() -> Iterator[SentryIntake]:
    server = SentryIntake()
    yield server
    server.close()


@pytest.fixture(scope="module")
async def client(
    intake: SentryIntake, mongo_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        mongo_url,
        Path(tmp_path_factory.mktemp("sentry")),
        sentry_dsn=f"http://publickey@127.0.0.1:{intake.port}/1",
    )
    app = create_app(settings)

    async def broken(payload: dict[str, Any]) -> None:
        raise RuntimeError("the reply store fell over")

    async def leaky(payload: dict[str, Any]) -> None:
        # What a driver or a validator says: the duplicate key (an e-mail), the input quoted.
        logging.getLogger("starguide.test").warning("lookup of %s was slow", LEAKED)
        raise ValueError(f"E11000 duplicate key error dup key: {{ email: {LEAKED!r} }}")

    def raise_in_a_log(payload: dict[str, Any]) -> None:
        try:
            raise KeyError(LEAKED)
        except KeyError:
            logging.getLogger("starguide.test").exception("could not index %s", LEAKED)

    app.add_api_route("/api/v1/test-broken", broken, methods=["POST"])
    app.add_api_route("/api/v1/test-leaky", leaky, methods=["POST"])
    app.add_api_route("/api/v1/test-logged", raise_in_a_log, methods=["POST"])
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield http
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init(dsn=None)  # later tests of this process report nowhere
        await _drop(settings, mongo_url)


async def test_an_unhandled_error_is_reported_without_body_or_secrets(
    client: httpx.AsyncClient, intake: SentryIntake
) -> None:
    response = await client.post(
        "/api/v1/test-broken?email=asha%40example.com",
        json={"password": PASSWORD, "content": "my private question"},
        headers={"Authorization": f"Bearer {BEARER}", "Cookie": f"session={BEARER}"},
    )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    sentry_sdk.flush(timeout=10)

    events = intake.events()
    assert events, intake.items
    values = [v for e in events for v in (e.get("exception") or {}).get("values", [])]
    assert any(v.get("type") == "RuntimeError" for v in values), events
    everything = b"".join(intake.raw)
    for private in (PASSWORD, BEARER, "my private question", "asha", "example.com"):
        assert private.encode() not in everything, private
    for event in events:
        request = event.get("request") or {}
        assert "data" not in request and "cookies" not in request
        assert set(request.get("headers", {})) <= {
            "accept",
            "content-type",
            "content-length",
            "user-agent",
            "x-request-id",
        }
        assert "user" not in event


def test_scrub_event_keeps_only_harmless_request_fields() -> None:
    event: Any = {
        "request": {
            "url": "http://x/api/v1/admin/users?q=asha@example.com",
            "query_string": "q=asha@example.com",
            "data": {"password": PASSWORD},
            "cookies": {"session": BEARER},
            "headers": {"Authorization": BEARER, "User-Agent": "app/1", "X-Api-Key": BEARER},
            "method": "GET",
        },
        "user": {"ip_address": "203.0.113.9"},
    }
    scrubbed = telemetry.scrub_event(event, {})
    assert scrubbed["request"] == {
        "url": "http://x/api/v1/admin/users",
        "headers": {"User-Agent": "app/1"},
        "method": "GET",
    }
    assert "user" not in scrubbed


async def test_exception_messages_and_log_arguments_are_not_sent(
    client: httpx.AsyncClient, intake: SentryIntake
) -> None:
    before = len(intake.raw)
    assert (await client.post("/api/v1/test-leaky", json={})).status_code == 500
    assert (await client.post("/api/v1/test-logged", json={})).status_code == 200
    sentry_sdk.flush(timeout=10)

    sent = intake.raw[before:]
    events = [e for e in intake.events() if e.get("exception") or e.get("logentry")]
    values = [v for e in events for v in (e.get("exception") or {}).get("values", [])]
    # Both errors arrived, each with its type and stack (what groups an issue in Sentry) ...
    assert {"ValueError", "KeyError"} <= {v.get("type") for v in values}, events
    assert all(v.get("stacktrace", {}).get("frames") for v in values if v["type"] == "KeyError")
    logged = [e["logentry"] for e in events if e.get("logentry")]
    assert any(entry.get("message") == "could not index %s" for entry in logged), logged
    # ... but not what they said: the e-mail was in the message, the log's arguments and the
    # breadcrumb of the warning before it.
    assert sent and not any(LEAKED.encode() in body for body in sent)
    assert not any(LEAKED.split("@")[0].encode() in body for body in sent)


async def test_the_vendor_sdk_integrations_are_off(client: httpx.AsyncClient) -> None:
    # They report each failed vendor call as unhandled, although the router fails over.
    from sentry_sdk.integrations.openai import OpenAIIntegration

    names = {type(i).__name__ for i in sentry_sdk.get_client().integrations.values()}
    assert "FastApiIntegration" in names, names  # the app's client, with what it turned on
    assert "OpenAIIntegration" not in names, names
    assert OpenAIIntegration in telemetry._vendor_integrations()
