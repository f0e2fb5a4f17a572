"""With REDIS_URL, login throttling is shared: failures on one instance lock the account on all."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from server.app import create_app
from tests.conftest import make_settings


async def test_failures_on_one_instance_lock_the_account_on_another(
    mongo_url: str, redis_url: str, tmp_path: Path
) -> None:
    db = f"t_{uuid.uuid4().hex[:12]}"
    common = {"mongodb_db": db, "redis_url": redis_url, "login_max_failures": 2}
    app_a = create_app(make_settings(mongo_url, tmp_path, **common))
    app_b = create_app(make_settings(mongo_url, tmp_path, **common))
    async with app_a.router.lifespan_context(app_a), app_b.router.lifespan_context(app_b):
        a = httpx.AsyncClient(transport=httpx.ASGITransport(app=app_a), base_url="http://a")
        b = httpx.AsyncClient(transport=httpx.ASGITransport(app=app_b), base_url="http://b")
        email = f"{uuid.uuid4().hex[:8]}@example.com"
        creds = {"email": email, "password": "right password"}
        created = await a.post("/api/v1/auth/register", json={**creds, "display_name": "Meera"})
        assert created.status_code == 201
        for _ in range(2):
            bad = await a.post("/api/v1/auth/login", json={**creds, "password": "wrong one"})
            assert bad.status_code == 401
        locked = await b.post("/api/v1/auth/login", json=creds)
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "too_many_login_attempts"
        ready = await b.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["redis"]["ok"] is True
        await a.aclose()
        await b.aclose()


@pytest.fixture(autouse=True)
def _needs_redis(redis_url: str) -> None:
    """Requesting the fixture fails loudly when redis-server is missing."""
