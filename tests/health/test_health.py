"""Liveness and readiness, including a database that goes away."""

from __future__ import annotations

from pathlib import Path

import httpx

from server.app import create_app
from server.embedded_db import EmbeddedMongo
from tests.conftest import Api, free_port, make_settings


async def test_healthz_and_readyz(api: Api) -> None:
    for prefix in ("", "/api/v1"):
        live = await api.client.get(f"{prefix}/healthz")
        assert live.status_code == 200 and live.json() == {"status": "ok"}
        ready = await api.client.get(f"{prefix}/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["mongodb"]["ok"] is True
        assert "redis" not in ready.json()["checks"]
        providers = ready.json()["checks"]["ai_providers"]
        assert list(providers) == ["offline"] and providers["offline"]["state"] == "closed"


async def test_readyz_is_503_naming_what_is_down(tmp_path: Path, mongo_url: str) -> None:
    own_db = EmbeddedMongo(storage_path=":memory:")
    url = await own_db.start()
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(make_settings(url, tmp_path, redis_url=dead_redis))
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        error = response.json()["error"]
        assert error["code"] == "dependency_unavailable"
        assert error["details"]["failing"] == ["redis"]
        assert "127.0.0.1" not in response.text  # no connection strings leak
        await own_db.stop()
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["error"]["details"]["failing"] == ["mongodb", "redis"]
        assert (await client.get("/healthz")).status_code == 200
        await client.aclose()
