"""The zero-config development database: SecantusDB run as a child process.

SecantusDB is GPL-2.0, so we only ever start it as a separate program (`python -m secantus`) and
never import it. A small state file lets a second process (an admin script while `make run` is
up, or a restarted server whose old child survived) reuse the running instance instead of
fighting over the WiredTiger files.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from pymongo import AsyncMongoClient

log = logging.getLogger("starguide.embedded_db")


class EmbeddedDatabaseError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


async def _pings(url: str, *, timeout_ms: int = 300) -> bool:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        await client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        await client.close()


class EmbeddedMongo:
    """Starts (or reuses) SecantusDB on 127.0.0.1 and stops it if this process started it."""

    def __init__(self, *, storage_path: str | Path, state_file: Path | None = None) -> None:
        self.storage_path = storage_path if storage_path == ":memory:" else Path(storage_path)
        self.state_file = state_file
        self.process: subprocess.Popen[bytes] | None = None
        self.location = "in memory" if storage_path == ":memory:" else os.path.abspath(storage_path)
        self.url: str | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> EmbeddedMongo:
        """The dev database of `make run`, also used by the admin scripts: built in one place
        so both always find the same files and state file."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(storage_path=data_dir / "mongo", state_file=data_dir / "embedded-mongo.json")

    @property
    def owned(self) -> bool:
        return self.process is not None

    async def start(self, *, timeout_s: float = 60.0) -> str:
        reused = await self._reuse_running()
        if reused:
            self.url = reused
            log.info("reusing the embedded dev database (SecantusDB)", extra={"url": reused})
            return reused
        if importlib.util.find_spec("secantus") is None:
            raise EmbeddedDatabaseError(
                "MONGODB_URL is not set and the embedded dev database is not installed: "
                "run `pip install -e '.[embedded]'` (or `make run`), or set MONGODB_URL"
            )
        port = _free_port()
        cmd = [sys.executable, "-m", "secantus", "--storage-path", str(self.storage_path)]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING"]
        output: IO[bytes] | int = subprocess.DEVNULL
        log_path: Path | None = None
        if isinstance(self.storage_path, Path):
            self.storage_path.mkdir(parents=True, exist_ok=True)
            log_path = self.storage_path.parent / "mongo.log"
            output = log_path.open("ab")
        # Popen only forks and execs (fixed argv, no shell); the wait is the async ping loop.
        self.process = subprocess.Popen(  # noqa: S603, ASYNC220
            cmd, stdout=output, stderr=output, start_new_session=True
        )
        if not isinstance(output, int):
            output.close()  # the child holds its own copy
        url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        deadline = time.monotonic() + timeout_s
        while not await _pings(url):
            if self.process.poll() is not None:
                raise EmbeddedDatabaseError(
                    f"the embedded database exited with code {self.process.returncode}"
                    + (f"; see {log_path}" if log_path else "")
                )
            if time.monotonic() > deadline:
                await self.stop()
                raise EmbeddedDatabaseError("the embedded database did not answer ping in time")
            await asyncio.sleep(0.1)
        self.url = url
        if self.state_file is not None:
            state = json.dumps({"pid": self.process.pid, "port": port})
            await asyncio.to_thread(self.state_file.write_text, state)
        log.warning(
            "using the EMBEDDED development database (SecantusDB, not for production); "
            "set MONGODB_URL to use a real MongoDB",
            extra={"data_dir": self.location, "port": port},
        )
        return url

    async def _reuse_running(self) -> str | None:
        if self.state_file is None or not self.state_file.exists():
            return None
        try:
            state = json.loads(self.state_file.read_text())
            pid, port = int(state["pid"]), int(state["port"])
        except (ValueError, KeyError, TypeError):
            return None
        if not _pid_alive(pid):
            return None
        url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        return url if await _pings(url) else None

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 15)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        if self.state_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.state_file.unlink()
        log.info("stopped the embedded dev database")
