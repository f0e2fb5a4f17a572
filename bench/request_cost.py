"""What one request of each kind costs the server: CPU and MongoDB commands, one at a time.

    python bench/request_cost.py [--requests 40]

Starts `python -m server` (embedded database, offline provider with no pause between words)
with its MongoDB commands counted (`bench/_serve_counted.py`), signs up a few learners with
some history, then for each request kind sends `--requests` requests one after another and
reads the server process's CPU and command counts before and after (after-request work
included: it waits until the server is idle again). The floor is `GET /healthz` through the
same middleware, measured in the same run; every row is also given as a ratio to it.

These are the per-request figures docs/SCALING.md sizes a deployment with. One client, one
request at a time: no queueing, so CPU per request is the cost of the work, not of contention.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench._child import (  # noqa: E402
    Child,
    command_snapshot,
    count_diff,
    server_argv,
    server_env,
    wait_ready,
)
from bench.procstats import free_port, proc_cpu  # noqa: E402

PASSWORD = "request-cost-" + "pw" * 6
API = "/api/v1"


class Learner:
    def __init__(self, client: httpx.AsyncClient, auth: dict[str, Any], email: str) -> None:
        self.client = client
        self.email = email
        self.refresh_token = str(auth["refresh_token"])
        self.headers = {"Authorization": f"Bearer {auth['access_token']}"}
        self.conversation_id = ""

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, API + path, headers=self.headers, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code} {response.text}")
        return response


async def sign_up(client: httpx.AsyncClient) -> Learner:
    email = f"cost-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": PASSWORD, "display_name": "Asha", "exam": "JEE"}
    response = await client.post(API + "/auth/register", json=body)
    response.raise_for_status()
    learner = Learner(client, response.json(), email)
    created = await learner.call("POST", "/conversations", json={"title": "Physics"})
    learner.conversation_id = created.json()["id"]
    return learner


def chat_body() -> dict[str, str]:
    return {
        "content": "Explain Newton's second law with a JEE example",
        "client_message_id": uuid.uuid4().hex,
    }


def kinds(learner: Learner) -> dict[str, Callable[[], Awaitable[Any]]]:
    conversation = f"/conversations/{learner.conversation_id}"

    async def quiz_round() -> None:
        question = (await learner.call("GET", "/quiz/next")).json()["question"]
        await learner.call(
            "POST",
            "/quiz/attempts",
            json={
                "question_id": question["id"],
                "option": 0,
                "client_attempt_id": uuid.uuid4().hex,
            },
        )

    async def refresh() -> None:
        response = await learner.client.post(
            API + "/auth/refresh", json={"refresh_token": learner.refresh_token}
        )
        response.raise_for_status()
        learner.refresh_token = response.json()["refresh_token"]

    async def login() -> None:
        response = await learner.client.post(
            API + "/auth/login", json={"email": learner.email, "password": PASSWORD}
        )
        response.raise_for_status()

    async def healthz() -> None:
        (await learner.client.get("/healthz")).raise_for_status()

    return {
        "GET /healthz (floor)": healthz,
        "GET /users/me": lambda: learner.call("GET", "/users/me"),
        "GET /conversations": lambda: learner.call("GET", "/conversations?limit=20"),
        "GET /conversations/{id}/messages (50)": lambda: learner.call(
            "GET", f"{conversation}/messages?limit=50"
        ),
        "GET /progress/me": lambda: learner.call("GET", "/progress/me"),
        "GET /leaderboard": lambda: learner.call("GET", "/leaderboard?scope=org&period=week"),
        "quiz: GET /quiz/next + POST /quiz/attempts": quiz_round,
        "POST /conversations/{id}/messages (201)": lambda: learner.call(
            "POST", f"{conversation}/messages", json=chat_body(), timeout=60
        ),
        "POST /auth/refresh": refresh,
        "POST /auth/login (argon2)": login,
    }


async def settle(child: Child, quiet_s: float = 0.4, timeout_s: float = 20.0) -> None:
    """Until the server's CPU stops moving (its after-request work is done)."""
    deadline = time.monotonic() + timeout_s
    last = proc_cpu(child.pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet_s)
        now = proc_cpu(child.pid)
        if now - last < 0.02:
            return
        last = now


async def measure(
    child: Child, counts: Path, name: str, call: Callable[[], Awaitable[Any]], n: int
) -> dict[str, Any]:
    for _ in range(3):  # warm-up: caches, first-use imports
        await call()
    await settle(child)
    before_counts = await command_snapshot(child, counts)
    before_cpu = proc_cpu(child.pid)
    for _ in range(n):
        await call()
    await settle(child)
    cpu = proc_cpu(child.pid) - before_cpu
    commands = count_diff(await command_snapshot(child, counts), before_counts)
    return {
        "name": name,
        "cpu_ms": cpu / n * 1000,
        "commands": sum(commands.values()) / n,
        "by_command": {k: v / n for k, v in sorted(commands.items(), key=lambda kv: -kv[1])},
    }


async def amain(args: argparse.Namespace) -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="starguide-cost-"))
    port = free_port()
    counts = workdir / "commands.json"
    env = server_env(
        port=port,
        data_dir=workdir / "data",
        settings={"OFFLINE_TOKEN_DELAY_MS": "0", "CHAT_RATE_LIMIT": "100000/minute"},
        command_counts=counts,
    )
    child = Child("starguide", server_argv(env), env, workdir)
    child.start()
    rows: list[dict[str, Any]] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            await wait_ready(child, client, 120)
            learner = await sign_up(client)
            for _ in range(30):  # some history, so a page of messages is a full page
                await learner.call(
                    "POST",
                    f"/conversations/{learner.conversation_id}/messages",
                    json=chat_body(),
                    timeout=60,
                )
            for name, call in kinds(learner).items():
                n = max(3, args.requests // 8) if "argon2" in name else args.requests
                rows.append(await measure(child, counts, name, call, n))
                print(f"  measured {name}", file=sys.stderr)
    finally:
        child.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40, help="requests of each kind")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    rows = asyncio.run(amain(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    floor = rows[0]["cpu_ms"] or 1e-9
    print(f"\n{'request':44} {'CPU ms':>8} {'x floor':>8} {'commands':>9}  top commands")
    for row in rows:
        top = ", ".join(f"{k} {v:g}" for k, v in list(row["by_command"].items())[:4])
        print(
            f"{row['name']:44} {row['cpu_ms']:8.2f} {row['cpu_ms'] / floor:8.1f} "
            f"{row['commands']:9.2f}  {top}"
        )


if __name__ == "__main__":
    main()
