"""Real servers for the whole session: one embedded SecantusDB (or MONGODB_URL) and redis-server.

A missing server fails loudly: a test that needs one must never be skipped silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis as SyncRedis

from server.config import Settings
from server.embedded_db import EmbeddedMongo
from tests.ai_router.fakes import FakeVendors

TEST_JWT_SECRET = "test-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
async def mongo_url() -> AsyncIterator[str]:
    external = os.environ.get("MONGODB_URL")
    if external:
        yield external
        return
    embedded = EmbeddedMongo(storage_path=":memory:")
    url = await embedded.start()
    try:
        yield url
    finally:
        await embedded.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: `apt-get install redis-server` (.ci/run does)")
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = SyncRedis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    client.close()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeVendors]:
    """Fake OpenAI, Anthropic and Gemini HTTP servers, shared by the whole session."""
    with FakeVendors() as server:
        yield server


@pytest.fixture
def fakes(fake_server: FakeVendors) -> FakeVendors:
    fake_server.reset()
    return fake_server


def vendor_settings(fakes: FakeVendors) -> dict[str, Any]:
    """Settings values that point every AI provider at the fake vendors."""
    values: dict[str, Any] = {}
    for vendor in ("openai", "anthropic", "gemini"):
        values[f"{vendor}_api_key"] = f"test-key-{vendor}-SECRET"
        values[f"{vendor}_base_url"] = getattr(fakes, f"{vendor}_url")
    return values


def make_settings(mongo_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "mongodb_url": mongo_url,
        "mongodb_db": f"t_{uuid.uuid4().hex[:12]}",
        "data_dir": data_dir,
        "jwt_secret": TEST_JWT_SECRET,
        "offline_token_delay_ms": 0,
        # Every test signs up and logs in from one address; tests of these limits set their own.
        "signup_rate_limit": "100000/hour",
        "login_rate_limit": "100000/hour",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Api:
    """A thin client for tests: the app in-process through ASGI, with helpers to sign up."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def register(
        self, email: str | None = None, password: str = "correct horse battery", **extra: Any
    ) -> dict[str, Any]:
        body = {
            "email": email or f"{uuid.uuid4().hex[:10]}@example.com",
            "password": password,
            "display_name": "Asha",
            **extra,
        }
        response = await self.client.post("/api/v1/auth/register", json=body)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        data["auth"] = {"Authorization": f"Bearer {data['access_token']}"}
        data["password"] = password
        return data


async def _drop(settings: Settings, mongo: str) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo)
    await client.drop_database(settings.mongodb_db)
    await client.close()


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A fresh database per test module; modules may override this fixture to change settings."""
    return make_settings(mongo_url, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
async def app(app_settings: Settings, mongo_url: str) -> AsyncIterator[Any]:
    from server.app import create_app

    application = create_app(app_settings)
    async with application.router.lifespan_context(application):
        yield application
    await _drop(app_settings, mongo_url)


@pytest.fixture(scope="module")
async def api(app: Any) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client)


class LiveServer:
    """The app served by a real uvicorn in this event loop: real HTTP, real disconnects."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.app = app
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self._task: Any = None

    async def start(self) -> LiveServer:
        import asyncio

        self._task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 30
        while not self.server.started:
            if self._task.done() or time.monotonic() > deadline:
                self._task.result()
                pytest.fail("uvicorn did not start")
            await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30, **kwargs)
