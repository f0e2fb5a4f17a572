"""`python -m server` with nothing configured: embedded database, docs, data kept on restart."""

from __future__ import annotations

import json
import os
import signal
import socket
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
    """Ctrl-C: a normal stop, exit code 0 and no traceback in the log."""
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    log = out.decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log, log
    return log


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


def test_a_busy_port_fails_fast_without_claiming_ready(tmp_path: Path) -> None:
    """The port is taken before anything starts: no embedded database, no "ready", exit 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_URL"))}
        env |= {"DATA_DIR": str(tmp_path), "PORT": str(port), "ENVIRONMENT": "development"}
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "server"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"cannot listen on 127.0.0.1:{port}" in output
    assert "in use" in output
    assert "starguide ready" not in output and "EMBEDDED" not in output
    assert not (tmp_path / "embedded-mongo.json").exists()
    assert elapsed < 30, elapsed
