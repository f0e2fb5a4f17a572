"""Socket tests run `python -m server` as real child processes and talk to them with
python-socketio's AsyncClient over websockets, like a web or mobile app would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from server.config import Settings
from tests.conftest import TEST_JWT_SECRET, free_port

ROOT = Path(__file__).resolve().parents[2]
APP_ORIGIN = "http://app.test"
PASSWORD = "correct horse battery"


def _clean_env() -> dict[str, str]:
    """The parent's environment without any of our settings (no stray keys or URLs)."""
    ours = {name.upper() for name in Settings.model_fields}
    return {k: v for k, v in os.environ.items() if k.upper() not in ours}


class ServerProcess:
    """One StarGuide instance: a real uvicorn in its own process."""

    READY_TIMEOUT_S = 60.0

    def __init__(self, *, mongo_url: str, db: str, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"server-{self.port}.log"
        self.env = _clean_env() | {
            "ENVIRONMENT": "test",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "DATA_DIR": str(data_dir),
            "MONGODB_URL": mongo_url,
            "MONGODB_DB": db,
            "JWT_SECRET": TEST_JWT_SECRET,
            "AI_PROVIDERS": "offline",
            "OFFLINE_TOKEN_DELAY_MS": "25",
            "CORS_ORIGINS": APP_ORIGIN,
            "AI_DAILY_BUDGET_USD": "none",
            "CHAT_FLUSH_SECONDS": "0.2",
            # Every learner of these tests signs up from 127.0.0.1.
            "SIGNUP_RATE_LIMIT": "100000/hour",
            "LOGIN_RATE_LIMIT": "100000/hour",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> ServerProcess:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - start-up only, not on a hot path
            [sys.executable, "-m", "server"], cwd=ROOT, env=self.env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + self.READY_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if self.proc.poll() is not None:
                    pytest.fail(f"the server exited:\n{self.log_tail()}")
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.proc.kill()
                    pytest.fail(f"the server did not become ready:\n{self.log_tail()}")
                await asyncio.sleep(0.1)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.to_thread(self.proc.wait, 15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"the server did not stop on SIGTERM:\n{self.log_tail()}")

    def rest(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"{self.url}/api/v1", timeout=30)


class Learner:
    """A registered user and their REST helpers."""

    def __init__(self, server: ServerProcess, auth: dict[str, Any]) -> None:
        self.server = server
        self.id: str = auth["user"]["id"]
        self.access_token: str = auth["access_token"]
        self.refresh_token: str = auth["refresh_token"]
        self.headers = {"Authorization": f"Bearer {self.access_token}"}

    async def conversation(self) -> str:
        async with self.server.rest() as client:
            response = await client.post("/conversations", json={}, headers=self.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        async with self.server.rest() as client:
            response = await client.get(
                f"/conversations/{conversation_id}/messages", headers=self.headers
            )
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


async def register(server: ServerProcess) -> Learner:
    body = {
        "email": f"{uuid.uuid4().hex[:12]}@example.com",
        "password": PASSWORD,
        "display_name": "Asha",
        "exam": "JEE",
    }
    async with server.rest() as client:
        response = await client.post("/auth/register", json=body)
    assert response.status_code == 201, response.text
    return Learner(server, response.json())


class Device:
    """A python-socketio client that records every event it receives, in order."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.connect_errors: list[Any] = []
        self.disconnected = asyncio.Event()
        self._changed = asyncio.Event()
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self._connect_error)
        self.sio.on("disconnect", self._on_disconnect)

    async def _record(self, event: str, *args: Any) -> None:
        self.events.append((event, args[0] if args else None))
        self._wake()

    async def _connect_error(self, data: Any = None) -> None:
        self.connect_errors.append(data)
        self._wake()

    async def _on_disconnect(self, *_: Any) -> None:
        self.disconnected.set()
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def connect(
        self,
        server: ServerProcess | str,
        token: str | None,
        *,
        origin: str | None = APP_ORIGIN,
        transports: tuple[str, ...] = ("websocket",),
    ) -> Device:
        headers = {"Origin": origin} if origin else {}
        auth = {"token": token} if token is not None else None
        await self.sio.connect(
            server if isinstance(server, str) else server.url,
            auth=auth,
            headers=headers,
            transports=["websocket"],
            wait_timeout=10,
        )
        return self

    async def call(self, event: str, data: Any = None, timeout: float = 15) -> dict[str, Any]:
        answer: dict[str, Any] = await self.sio.call(event, data, timeout=timeout)
        return answer

    def named(self, name: str, message_id: str | None = None) -> list[Any]:
        return [
            data
            for event, data in self.events
            if event == name and (message_id is None or data.get("message_id") == message_id)
        ]

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 20, what: str = "event"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = predicate()
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                names = [e for e, _ in self.events][-20:]
                pytest.fail(f"timed out waiting for {what}; last events: {names}")
            changed = self._changed
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                continue

    async def wait_end(self, message_id: str, timeout: float = 30) -> dict[str, Any]:
        ends: list[Any] = await self.wait_for(
            lambda: (
                self.named("assistant:end", message_id) or self.named("assistant:error", message_id)
            ),
            timeout,
            what=f"the end of {message_id}",
        )
        return dict(ends[0])

    def tokens(self, message_id: str) -> list[dict[str, Any]]:
        return list(self.named("assistant:token", message_id))

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        http = getattr(self.sio.eio, "http", None)  # left open by a refused connection
        if http is not None and not http.closed:
            await http.close()


@pytest.fixture
async def devices() -> AsyncIterator[Callable[[], Device]]:
    """Makes devices and disconnects every one of them after the test."""
    made: list[Device] = []

    def make() -> Device:
        device = Device()
        made.append(device)
        return device

    yield make
    for device in made:
        await device.close()


def assert_stream(device: Device, message_id: str, end: dict[str, Any]) -> None:
    """Tokens numbered from 1 without gaps or repeats, adding up to the final content."""
    tokens = device.tokens(message_id)
    assert [t["seq"] for t in tokens] == list(range(1, len(tokens) + 1))
    assert "".join(t["delta"] for t in tokens) == end["content"]


async def add_member(
    server: ServerProcess, mongo_url: str, conversation_id: str, user_id: str
) -> None:
    from bson import ObjectId
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        result = await client[server.env["MONGODB_DB"]]["conversations"].update_one(
            {"_id": ObjectId(conversation_id)}, {"$addToSet": {"member_ids": ObjectId(user_id)}}
        )
        assert result.modified_count == 1
    finally:
        await client.close()


async def set_role(server: ServerProcess, mongo_url: str, user_id: str, role: str) -> None:
    from bson import ObjectId
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        result = await client[server.env["MONGODB_DB"]]["users"].update_one(
            {"_id": ObjectId(user_id)}, {"$set": {"role": role}}
        )
        assert result.matched_count == 1
    finally:
        await client.close()


async def remove_member(
    server: ServerProcess, mongo_url: str, conversation_id: str, user_id: str
) -> None:
    """Takes a member out behind the server's back: no announcement, only the re-checks."""
    from bson import ObjectId
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        result = await client[server.env["MONGODB_DB"]]["conversations"].update_one(
            {"_id": ObjectId(conversation_id)}, {"$pull": {"member_ids": ObjectId(user_id)}}
        )
        assert result.modified_count == 1
    finally:
        await client.close()


async def study_group(
    server: ServerProcess, mongo_url: str, member_server: ServerProcess | None = None
) -> tuple[Learner, Learner, dict[str, Any]]:
    """A mentor's study group with one member (registered on `member_server`, if given)."""
    mentor, member = await register(server), await register(member_server or server)
    await set_role(server, mongo_url, mentor.id, "mentor")
    async with server.rest() as client:
        created = await client.post("/groups", json={"name": "NEET batch"}, headers=mentor.headers)
        assert created.status_code == 201, created.text
        group: dict[str, Any] = created.json()
        joined = await client.post(
            "/groups/join", json={"invite_code": group["invite_code"]}, headers=member.headers
        )
        assert joined.status_code == 200, joined.text
    return mentor, member, group


async def leave_group(server: ServerProcess, learner: Learner, group_id: str) -> None:
    async with server.rest() as client:
        response = await client.delete(f"/groups/{group_id}/members/me", headers=learner.headers)
    assert response.status_code == 204, response.text
