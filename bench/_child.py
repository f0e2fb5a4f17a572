"""The server child process the benchmarks start: its environment, start, readiness and stop.

Every bench that measures the real stack runs `python -m server` (or a baseline server) as a
child with its log in a temp dir, waits until it answers, and stops it with SIGINT so that it
shuts down as in production (and stops its embedded SecantusDB). One implementation here, so
a fix to start-up or shutdown (a slow stop, a database child left running) reaches all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.procstats import log_tail, pid_alive

if TYPE_CHECKING:  # imported where used: socket_fanout's bare server child imports this module
    import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Never handed to the child: a developer's database, Redis or AI vendor would change the
# figures (or cost money). The server falls back to the embedded database and no Redis.
_DROPPED_VARIABLES = ("MONGODB_URL", "REDIS_URL", "AI_PROVIDERS")
_DROPPED_SUFFIXES = ("_API_KEY", "_URL", "_BASE_URL")
_DROPPED_PREFIXES = ("OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_")
COMMAND_COUNTS_ENV = "STARGUIDE_BENCH_COMMAND_COUNTS"  # read by bench/_serve_counted.py


class ChildError(RuntimeError):
    """The child exited, or did not answer in time; the message ends with its log's tail."""


def server_env(
    *,
    port: int,
    data_dir: Path,
    settings: dict[str, str],
    command_counts: Path | None = None,
) -> dict[str, str]:
    """This process's environment for `python -m server` on `port` with DATA_DIR `data_dir`:
    development mode, offline AI provider, nothing that points at a real service, plus
    `settings` (which win). With `command_counts`, the child counts its MongoDB commands
    (`bench/_serve_counted.py`, started by `server_argv(env)`; read with `command_snapshot`).
    `BENCH_SERVER_PATH` in this process's environment runs the server of another checkout
    (a before-and-after run: `git worktree add /tmp/wt-before HEAD`)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _DROPPED_VARIABLES
        and not k.endswith(_DROPPED_SUFFIXES)
        and not k.startswith(_DROPPED_PREFIXES)
    }
    env.update(
        {
            "PYTHONPATH": os.environ.get("BENCH_SERVER_PATH") or str(ROOT),
            "ENVIRONMENT": "development",
            "HOST": HOST,
            "PORT": str(port),
            "DATA_DIR": str(data_dir),
            "AI_PROVIDERS": "offline",
            # A bench is one client address signing up many learners and opening thousands
            # of sockets for a few of them: the abuse limits stay on (their checks cost what
            # they cost) but never trip.
            "SIGNUP_RATE_LIMIT": "100000/minute",
            "LOGIN_RATE_LIMIT": "100000/minute",
            "SOCKET_MAX_PER_USER": "100000",
            "SOCKET_EVENT_RATE_LIMIT": "100000/second",
        }
    )
    if command_counts is not None:
        env[COMMAND_COUNTS_ENV] = str(command_counts)
    env.update(settings)
    return env


def server_argv(env: dict[str, str] | None = None) -> list[str]:
    """`python -m server`, or its command-counting wrapper when `env` asks for counts."""
    if env and env.get(COMMAND_COUNTS_ENV):
        return [sys.executable, str(ROOT / "bench" / "_serve_counted.py")]
    return [sys.executable, "-m", "server"]


async def command_snapshot(child: Child, path: Path, timeout_s: float = 10.0) -> dict[str, int]:
    """The MongoDB commands `child` has sent so far, by `<command> <collection>`: asks with
    SIGUSR1 and waits for the dump with the next sequence number."""
    before = -1
    with contextlib.suppress(OSError, ValueError):
        before = int(json.loads(path.read_text())["seq"])  # noqa: ASYNC240 - a tiny local file
    os.kill(child.pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            dump = json.loads(path.read_text())  # noqa: ASYNC240 - a tiny local file
            if int(dump["seq"]) > before:
                return {str(k): int(v) for k, v in dump["counts"].items()}
        await asyncio.sleep(0.02)
    raise ChildError(f"the {child.name} server wrote no command counts:\n{child.log_tail()}")


def count_diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """What was sent between two snapshots (keys with a zero difference dropped)."""
    diff = {k: v - before.get(k, 0) for k, v in after.items()}
    return {k: v for k, v in sorted(diff.items(), key=lambda kv: -kv[1]) if v}


def embedded_db_state(data_dir: Path) -> dict[str, int] | None:
    """SecantusDB's {"pid", "port"} as written by server/embedded_db.py into DATA_DIR."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        state = json.loads((data_dir / "embedded-mongo.json").read_text())
        return {"pid": int(state["pid"]), "port": int(state["port"])}
    return None


def embedded_db_pid(data_dir: Path) -> int | None:
    state = embedded_db_state(data_dir)
    return state["pid"] if state else None


class Child:
    """A server child process with its log at `workdir/<name>.log`; stop() is SIGINT, then
    harder. `cwd` defaults to `workdir`, so a developer's .env does not change the bench."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        workdir: Path,
        *,
        cwd: Path | None = None,
        tail_lines: int = 20,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.cwd = cwd or workdir
        self.log_path = workdir / f"{name}.log"
        self.tail_lines = tail_lines
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self) -> str:
        return log_tail(self.log_path, self.tail_lines)

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise ChildError(
                f"the {self.name} server exited with code {self.proc.returncode}:\n"
                + self.log_tail()
            )

    def not_ready(self) -> ChildError:
        return ChildError(f"the {self.name} server was not ready in time:\n" + self.log_tail())

    def stop(self, db_pid: int | None = None, *, wait_s: float = 30.0) -> list[str]:
        """SIGINT and wait `wait_s`, then SIGTERM, then SIGKILL; then the database child
        `db_pid` must be gone too. Returns the problems seen, for the report."""
        problems: list[str] = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                problems.append(
                    f"{self.name}: did not stop within {wait_s:.0f} s of SIGINT; sent SIGTERM"
                )
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        else:
            problems.append(f"{self.name}: exited early with code {self.proc.returncode}")
        if db_pid is not None and pid_alive(db_pid):
            problems.append(f"{self.name}: the embedded database (pid {db_pid}) outlived it")
            os.kill(db_pid, signal.SIGTERM)
            for _ in range(100):
                if not pid_alive(db_pid):
                    break
                time.sleep(0.1)
            else:
                os.kill(db_pid, signal.SIGKILL)
        return problems


async def wait_port(child: Child, port: int, timeout_s: float = 60.0) -> None:
    """Until `port` accepts a TCP connection (the child listens)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        child.check_alive()
        try:
            _, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise ChildError(f"the {child.name} server did not listen in time:\n{child.log_tail()}")


async def wait_ready(child: Child, client: httpx.AsyncClient, timeout_s: float) -> float:
    """Until `GET /readyz` answers 200 (database and all up); returns the seconds waited."""
    import httpx

    t0 = time.perf_counter()
    while True:
        child.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/readyz", timeout=2.0)).status_code == 200:
                return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout_s:
            raise child.not_ready()
        await asyncio.sleep(0.2)


def wait_ready_blocking(child: Child, base_url: str, timeout_s: float) -> None:
    """wait_ready() for callers without an event loop."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        child.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise child.not_ready()


# ---- accounts on the child server -----------------------------------------------------------
async def register(
    client: httpx.AsyncClient, *, email: str, password: str, display_name: str
) -> dict[str, str]:
    """A new learner on the server `client` talks to: {"token", "id"}."""
    resp = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": display_name},
    )
    if resp.status_code != 201:
        raise RuntimeError(f"register: HTTP {resp.status_code} {resp.text[:300]}")
    body = resp.json()
    return {"token": body["access_token"], "id": body["user"]["id"]}


async def new_conversation(client: httpx.AsyncClient, token: str) -> str:
    """A new conversation of the learner with `token`; returns its id."""
    resp = await client.post(
        "/api/v1/conversations", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    if resp.status_code != 201:
        raise RuntimeError(f"conversation: HTTP {resp.status_code} {resp.text[:300]}")
    return str(resp.json()["id"])
