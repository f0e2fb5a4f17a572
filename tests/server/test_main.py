"""`python -m server` with nothing configured: embedded database, docs, data kept on restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_URL"))}
    env |= {"DATA_DIR": str(data_dir), "PORT": str(port), "ENVIRONMENT": "development"}
    process = subprocess.Popen(
        [sys.executable, "-m", "server"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("server did not become ready")


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    return out.decode()


def _child_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def test_zero_config_server_keeps_data_across_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(data_dir, port)
    try:
        state = json.loads((data_dir / "embedded-mongo.json").read_text())
        assert (data_dir / "jwt_secret").exists()
        assert httpx.get(f"{base}/docs").status_code == 200
        assert "/api/v1/auth/register" in httpx.get(f"{base}/openapi.json").json()["paths"]
        creds = {"email": "keep@example.com", "password": "survives restarts"}
        created = httpx.post(f"{base}/api/v1/auth/register", json={**creds, "display_name": "K"})
        assert created.status_code == 201
    finally:
        log = _stop(server)
    assert "EMBEDDED development database" in log
    assert str((data_dir / "mongo").resolve()) in log
    assert "survives restarts" not in log
    assert not _child_alive(state["pid"]), "the embedded database must stop with the server"
    server = _start(data_dir, port)
    try:
        login = httpx.post(f"{base}/api/v1/auth/login", json=creds)
        assert login.status_code == 200, login.text
        # The dev JWT secret is kept too, so tokens issued before the restart still work.
        me = httpx.get(
            f"{base}/api/v1/users/me",
            headers={"Authorization": f"Bearer {created.json()['access_token']}"},
        )
        assert me.status_code == 200
    finally:
        _stop(server)
