"""A script's writes reach the running servers' account caches over Redis at once.

The servers cache accounts per process (`server/lookups.py`) and drop an entry when the owning
service announces a write on the control channel. A script runs in its own process: with
`REDIS_URL` it announces its writes too, so an account it promotes is an admin on the server's
very next request, not after the cache's 60 s TTL.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from server.app import create_app
from tests.conftest import make_settings
from tests.scripts.conftest import run_subprocess, script_env

PASSWORD = "a long admin passphrase"


async def test_a_promotion_by_script_is_seen_by_a_running_server_at_once(
    mongo_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        mongo_url, tmp_path, mongodb_db=f"t_{uuid.uuid4().hex[:12]}", redis_url=redis_url
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://server"
        ) as client,
    ):
        email = f"{uuid.uuid4().hex[:8]}@example.com"
        created = await client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": "learner password 1", "display_name": "Ira"},
        )
        assert created.status_code == 201, created.text
        headers = {"Authorization": f"Bearer {created.json()['access_token']}"}
        # The account is read (and cached) by this request: a learner may not list users.
        refused = await client.get("/api/v1/admin/users", headers=headers)
        assert refused.status_code == 403

        promoted = await asyncio.to_thread(
            run_subprocess,
            "create_admin",
            "--email",
            email,
            "--password",
            PASSWORD,
            env=script_env(settings, REDIS_URL=redis_url),
        )
        assert promoted.returncode == 0, promoted.stderr
        assert "updated" in promoted.stdout

        # The control message may take a moment to arrive, far less than the 60 s TTL.
        for _ in range(50):
            listed = await client.get("/api/v1/admin/users", headers=headers)
            if listed.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert listed.status_code == 200, listed.text
        assert email in [u["email"] for u in listed.json()["items"]]
