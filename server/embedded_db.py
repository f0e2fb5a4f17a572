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
from typing import IO, Literal

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


EmbeddedState = Literal["stopped", "running", "restarting", "failed"]


class EmbeddedMongo:
    """Starts (or reuses) SecantusDB on 127.0.0.1 and stops it if this process started it.

    `supervise()` keeps it up: a process that dies is started again on the same port with the
    same data, so clients reconnect by themselves, as they would to a restarted mongod.
    """

    def __init__(self, *, storage_path: str | Path, state_file: Path | None = None) -> None:
        self.storage_path = storage_path if storage_path == ":memory:" else Path(storage_path)
        self.state_file = state_file
        self.process: subprocess.Popen[bytes] | None = None
        self.location = "in memory" if storage_path == ":memory:" else os.path.abspath(storage_path)
        self.url: str | None = None
        self.port: int | None = None
        self.state: EmbeddedState = "stopped"
        self.restarts = 0  # times the supervisor brought it back
        self._reused_pid: int | None = None  # the serving process when another one started it
        self._supervisor: asyncio.Task[None] | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> EmbeddedMongo:
        """The dev database of `make run`, also used by the admin scripts: built in one place
        so both always find the same files and state file."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(storage_path=data_dir / "mongo", state_file=data_dir / "embedded-mongo.json")

    @property
    def owned(self) -> bool:
        return self.process is not None

    @property
    def live(self) -> bool:
        """False once the supervisor has failed to bring a dead database back: the process
        cannot serve, so its liveness check fails and an orchestrator restarts it."""
        return self.state != "failed"

    def describe(self) -> dict[str, object]:
        return {"state": self.state, "restarts": self.restarts}

    async def start(self, *, timeout_s: float = 60.0) -> str:
        reused = await self._reuse_running()
        if reused:
            log.info("reusing the embedded dev database (SecantusDB)", extra={"url": reused})
            return reused
        if importlib.util.find_spec("secantus") is None:
            raise EmbeddedDatabaseError(
                "MONGODB_URL is not set and the embedded dev database is not installed: "
                "run `pip install -e '.[embedded]'` (or `make run`), or set MONGODB_URL"
            )
        url = await self._launch(_free_port(), timeout_s=timeout_s)
        log.warning(
            "using the EMBEDDED development database (SecantusDB, not for production); "
            "set MONGODB_URL to use a real MongoDB",
            extra={"data_dir": self.location, "port": self.port},
        )
        return url

    async def _launch(self, port: int, *, timeout_s: float) -> str:
        """Runs SecantusDB on `port` and waits until it answers; on failure nothing of it
        is left running."""
        cmd = [sys.executable, "-m", "secantus", "--storage-path", str(self.storage_path)]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING"]
        output: IO[bytes] | int = subprocess.DEVNULL
        log_path: Path | None = None
        if isinstance(self.storage_path, Path):
            self.storage_path.mkdir(parents=True, exist_ok=True)
            log_path = self.storage_path.parent / "mongo.log"
            output = log_path.open("ab")
        try:
            # Popen only forks and execs (fixed argv, no shell); the wait is the ping loop.
            process = subprocess.Popen(  # noqa: S603, ASYNC220
                cmd, stdout=output, stderr=output, start_new_session=True
            )
        except OSError as exc:
            raise EmbeddedDatabaseError(f"the embedded database could not start: {exc}") from exc
        finally:
            if not isinstance(output, int):
                output.close()  # the child holds its own copy
        self.process = process
        url = _url(port)
        deadline = time.monotonic() + timeout_s
        while not await _pings(url):
            if process.poll() is not None:
                self.process = None
                raise EmbeddedDatabaseError(
                    f"the embedded database exited with code {process.returncode}"
                    + (f"; see {log_path}" if log_path else "")
                )
            if time.monotonic() > deadline:
                self.process = None
                await _terminate(process)
                raise EmbeddedDatabaseError("the embedded database did not answer ping in time")
            await asyncio.sleep(0.1)
        self.url, self.port, self.state, self._reused_pid = url, port, "running", None
        if self.state_file is not None:
            state = json.dumps({"pid": process.pid, "port": port})
            await asyncio.to_thread(self.state_file.write_text, state)
        return url

    async def _reuse_running(self, *, port_wanted: int | None = None) -> str | None:
        """The URL of a live instance named by the state file (on `port_wanted`, if given)."""
        if self.state_file is None or not self.state_file.exists():
            return None
        try:
            state = json.loads(self.state_file.read_text())
            pid, port = int(state["pid"]), int(state["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not _pid_alive(pid) or port_wanted not in (None, port):
            return None
        url = _url(port)
        if not await _pings(url):
            return None
        self.url, self.port, self.state, self._reused_pid = url, port, "running", pid
        return url

    # ---- supervision ------------------------------------------------------------------------
    def supervise(
        self,
        *,
        check_every_s: float = 1.0,
        first_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        failed_after: int = 3,
    ) -> None:
        """Watches the database process from now until `stop()`; when it dies, starts it
        again on the same port and data directory, with backoff between failed attempts.
        After `failed_after` failed attempts the state is `failed` (`/healthz` answers 503)
        and it keeps trying every `max_backoff_s`: a later success makes it live again."""
        if self._supervisor is not None or self.port is None:
            return
        self._supervisor = asyncio.create_task(
            self._supervise(check_every_s, first_backoff_s, max_backoff_s, failed_after),
            name="embedded-db-supervisor",
        )

    def _alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return self._reused_pid is not None and _pid_alive(self._reused_pid)

    async def _supervise(
        self, check_every_s: float, first_backoff_s: float, max_backoff_s: float, failed_after: int
    ) -> None:
        while True:
            await asyncio.sleep(check_every_s)
            if self._alive():
                continue
            try:
                await self._restart(first_backoff_s, max_backoff_s, failed_after)
            except Exception:  # the watchdog itself must never die
                log.exception("supervising the embedded database failed")

    async def _restart(
        self, first_backoff_s: float, max_backoff_s: float, failed_after: int
    ) -> None:
        assert self.port is not None
        code = self.process.returncode if self.process is not None else None
        log.error(
            "the embedded database stopped; restarting it on the same port",
            extra={"exit_code": code, "port": self.port},
        )
        self.process, self._reused_pid, self.state = None, None, "restarting"
        delay, attempt = first_backoff_s, 0
        while True:
            attempt += 1
            try:
                # Another server sharing this data directory may have restarted it first;
                # only an instance on our port will do: our clients know no other.
                if await self._reuse_running(port_wanted=self.port) is None:
                    await self._launch(self.port, timeout_s=60.0)
            except EmbeddedDatabaseError as exc:
                if attempt == failed_after:
                    self.state = "failed"
                    log.error(
                        "the embedded database could not be restarted; /healthz now fails, "
                        "retrying every %.0f s",
                        max_backoff_s,
                        extra={"attempts": attempt, "error": str(exc)},
                    )
                elif attempt < failed_after:
                    log.warning(
                        "restarting the embedded database failed; retrying",
                        extra={"attempt": attempt, "error": str(exc)},
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_backoff_s)
                continue
            self.restarts += 1
            log.warning(
                "restarted the embedded database", extra={"attempts": attempt, "port": self.port}
            )
            return

    async def stop(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:  # first, or it would start the database again
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        self.state = "stopped"
        process, self.process = self.process, None
        if process is None:
            return
        await _terminate(process)
        if self.state_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.state_file.unlink()
        log.info("stopped the embedded dev database")


def _url(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


async def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
