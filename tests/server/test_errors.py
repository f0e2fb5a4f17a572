"""The error shape for every failure, request ids, body cap, CORS and log hygiene."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from limits import errors as limits_errors
from pymongo import errors as mongo_errors
from redis import exceptions as redis_errors

from server.logs import JsonFormatter
from tests.conftest import Api


def _is_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return dict(body["error"])


async def test_unknown_route_and_wrong_method(api: Api) -> None:
    _is_error(await api.client.get("/api/v1/nowhere"), 404, "not_found")
    _is_error(await api.client.put("/api/v1/auth/login", json={}), 405, "method_not_allowed")


async def test_malformed_json_and_validation_details(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/auth/login", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    _is_error(response, 422, "invalid_json")
    error = _is_error(await api.client.post("/api/v1/auth/login", json={}), 422, "validation_error")
    assert {f["field"] for f in error["details"]["fields"]} == {"email", "password"}


async def test_bodies_over_one_megabyte_are_413(api: Api) -> None:
    big = b'{"email": "' + b"a" * 1_100_000 + b'"}'
    response = await api.client.post(
        "/api/v1/auth/login", content=big, headers={"content-type": "application/json"}
    )
    _is_error(response, 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap counts bytes read
        yield b'{"email": "'
        for _ in range(20):
            yield b"a" * 65_536
        yield b'"}'

    streamed = await api.client.post(
        "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    _is_error(streamed, 413, "payload_too_large")
    fine = await api.client.post("/api/v1/auth/login", json={"email": "a@b.co", "password": "x"})
    assert fine.status_code == 401


async def test_every_response_has_a_request_id(api: Api) -> None:
    ok = await api.client.get("/healthz")
    assert len(ok.headers["X-Request-ID"]) >= 16
    echoed = await api.client.get("/healthz", headers={"X-Request-ID": "client-req-12345"})
    assert echoed.headers["X-Request-ID"] == "client-req-12345"
    unsafe = await api.client.get("/healthz", headers={"X-Request-ID": "bad id\twith tabs"})
    assert unsafe.headers["X-Request-ID"] != "bad id\twith tabs"
    error = await api.client.get("/api/v1/nowhere")
    assert error.headers["X-Request-ID"]


async def test_unexpected_errors_are_generic_500s(api: Api, app: Any) -> None:
    async def explode() -> None:
        raise RuntimeError("secret internals: mongodb://user:pw@host")

    app.add_api_route("/api/v1/_test/explode", explode)
    response = await api.client.get("/api/v1/_test/explode")
    error = _is_error(response, 500, "internal_error")
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert error["details"]["request_id"] == response.headers["X-Request-ID"]


async def test_driver_outage_errors_are_503_wherever_they_surface(api: Api, app: Any) -> None:
    """The drivers' outage errors, raised directly, wrapped by a library (`limits`) or chained
    by our own code, all answer 503 `dependency_unavailable`; other driver errors stay 500s."""
    raised: dict[str, BaseException] = {
        "selection": mongo_errors.ServerSelectionTimeoutError("db.internal:27017: timed out"),
        "network": mongo_errors.NetworkTimeout("db.internal:27017: timed out"),
        "shutdown": mongo_errors.OperationFailure("shutdown in progress", code=91),
        "redis": redis_errors.ConnectionError("Error 111 connecting to cache.internal:6379."),
        "limits": limits_errors.StorageError(redis_errors.TimeoutError("Timeout reading")),
        "duplicate": mongo_errors.DuplicateKeyError("E11000 duplicate key"),
    }

    def route(name: str) -> Any:
        async def fail() -> None:
            if name == "chained":
                try:
                    raise mongo_errors.AutoReconnect("db.internal:27017: connection reset")
                except mongo_errors.AutoReconnect as exc:
                    raise RuntimeError("loading the page failed") from exc
            raise raised[name]

        return fail

    for name in [*raised, "chained"]:
        app.add_api_route(f"/api/v1/_test/outage/{name}", route(name))
    origin = {"Origin": "http://localhost:5173"}
    for name, dependency in [
        ("selection", "mongodb"),
        ("network", "mongodb"),
        ("shutdown", "mongodb"),
        ("chained", "mongodb"),
        ("redis", "redis"),
        ("limits", "redis"),
    ]:
        response = await api.client.get(f"/api/v1/_test/outage/{name}", headers=origin)
        error = _is_error(response, 503, "dependency_unavailable")
        assert error["details"]["dependency"] == dependency
        assert int(response.headers["Retry-After"]) == error["details"]["retry_after"] >= 1
        assert ".internal" not in response.text
        if name != "chained":  # rendered inside CORS: a browser can read why
            assert response.headers["access-control-allow-origin"] == origin["Origin"]
    duplicate = await api.client.get("/api/v1/_test/outage/duplicate")
    _is_error(duplicate, 500, "internal_error")


async def test_cors_allows_only_configured_origins(api: Api) -> None:
    headers = {"Access-Control-Request-Method": "POST"}
    allowed = await api.client.options(
        "/api/v1/auth/login", headers={**headers, "Origin": "http://localhost:5173"}
    )
    assert allowed.headers.get("access-control-allow-origin") == "http://localhost:5173"
    foreign = await api.client.options(
        "/api/v1/auth/login", headers={**headers, "Origin": "https://evil.example"}
    )
    assert foreign.headers.get("access-control-allow-origin") is None


async def test_logs_are_json_with_request_id_and_no_secrets(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    password = "my very secret passphrase"
    data = await api.register(password=password)
    await api.client.post(
        "/api/v1/auth/login",
        json={"email": data["user"]["email"], "password": password},
        headers={"X-Request-ID": "trace-me-123456"},
    )
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    access = [json.loads(line) for line in lines if '"msg": "request"' in line]
    assert any(
        entry.get("request_id") == "trace-me-123456"
        and entry["path"] == "/api/v1/auth/login"
        and entry["status"] == 200
        for entry in access
    )
    everything = "\n".join(lines)
    assert password not in everything
    assert data["access_token"] not in everything and data["refresh_token"] not in everything
