"""Chat streaming over SSE: TTFT, relay rate and server CPU per message, vs the bare provider.

Baseline (in this process): the offline provider (`OfflineProvider`) streamed directly, at the
same pace and concurrency, with the same messages. Stack: `python -m server` started as a
child process (embedded SecantusDB, AI_PROVIDERS=offline, OFFLINE_TOKEN_DELAY_MS=--pace-ms),
one user and one conversation per concurrent chat, one warm-up round, then --rounds rounds of
--chats concurrent `POST /api/v1/conversations/{id}/messages` with `Accept: text/event-stream`,
parsed incrementally with httpx. Every reply is checked: `seq` from 1 without gaps, the
concatenated deltas equal to the `assistant:end` content, status `complete`.

Server CPU is utime+stime of the server process itself (`/proc/<pid>/stat`), which excludes
its SecantusDB child: that database is a Python server taking a few ms per query, and its time
is not ours. The server child counts every MongoDB command it sends (PyMongo command
monitoring, `bench/_serve_counted.py`): the bench prints the commands per chat message (from the
first measured send to the end of the settle time, so the after-reply work is in), by command
and collection, and the commands of one authenticated page of messages. Issue 20's two goal
figures are the lines starting with GOAL. Run from the repo root (Linux only, about a minute
with the defaults):

    .venv/bin/python bench/chat_stream.py

`--provider openai` measures against what production runs instead: a fake OpenAI vendor in a
child process (tests/ai_router/fakes.py: the vendor's SSE wire format, `--vendor-chunks` chunks
--pace-ms apart) serves both the baseline (the official `openai` SDK streaming directly, same
concurrency) and the server (AI_PROVIDERS=openai, OPENAI_BASE_URL pointing at the fake). Issue
20's goal line is stated against the offline provider, so that mode prints its ratio without
the GOAL prefix.

Before and after a change, same bench and counter: `git worktree add /tmp/wt-before HEAD`, then
`BENCH_SERVER_PATH=/tmp/wt-before .venv/bin/python bench/chat_stream.py` runs that checkout's
server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import openai  # noqa: E402

from ai_router.providers.base import ProviderCall  # noqa: E402
from ai_router.providers.offline_mentor import OfflineProvider  # noqa: E402
from bench._child import (  # noqa: E402
    Child,
    command_snapshot,
    count_diff,
    embedded_db_pid,
    new_conversation,
    register,
    server_argv,
    server_env,
    wait_ready,
)
from bench.procstats import cpu_if_alive, free_port, log_tail, pct, proc_cpu  # noqa: E402

MESSAGES = (
    "A block of 2 kg slides down a 30 degree incline with friction 0.2. Find its acceleration.",
    "How many moles of oxygen are needed to burn 10 g of methane completely?",
    "Integrate x times e to the power x with respect to x. Where do I start?",
    "Explain the light reactions of photosynthesis and where ATP is made.",
    "Discuss whether Indian federalism is quasi-federal, with one recent example.",
    "A projectile is fired at 20 m/s at 45 degrees. How long is it in the air?",
    "What is the probability of getting at least one six in four throws of a die?",
    "I keep confusing mitosis and meiosis. What is the real difference?",
)
PASSWORD = "bench-chat-stream-pw-1"  # noqa: S105 - throwaway accounts in a temp database


def message_for(chat: int) -> str:
    return MESSAGES[chat % len(MESSAGES)]


@dataclass
class StreamResult:
    ttft: float | None = None  # seconds from the request (or stream start) to the first word
    tokens: int = 0
    duration: float = 0.0
    error: str | None = None  # the kind of failure; None: complete and consistent
    detail: str = ""
    comment_lines: int = 0
    usage_mismatch: bool = False
    status: int = 0

    def fail(self, kind: str, detail: str = "") -> None:
        if self.error is None:  # the first problem explains the others
            self.error, self.detail = kind, detail


@dataclass
class Phase:
    """One path's measured rounds."""

    results: list[StreamResult] = field(default_factory=list)
    wall: float = 0.0  # summed round durations (first send to last end)

    @property
    def ok(self) -> list[StreamResult]:
        return [r for r in self.results if r.error is None]

    @property
    def ttfts(self) -> list[float]:
        return [r.ttft for r in self.ok if r.ttft is not None]

    @property
    def tokens(self) -> int:
        return sum(r.tokens for r in self.results)


# ---- baseline: the provider alone ---------------------------------------------------------
async def baseline_stream(provider: OfflineProvider, message: str) -> StreamResult:
    call = ProviderCall(
        model="offline-mentor-1",
        system_prompt="You are StarGuide, a patient mentor.",
        history=(),
        message=message,
        max_tokens=1024,
        temperature=None,
        user_id=None,
    )
    result = StreamResult()
    t0 = time.perf_counter()
    async for event in provider.stream(call):
        if isinstance(event, str):
            if result.ttft is None:
                result.ttft = time.perf_counter() - t0
            result.tokens += 1
    result.duration = time.perf_counter() - t0
    return result


async def sdk_stream(client: openai.AsyncOpenAI, message: str) -> StreamResult:
    """One streamed chat completion through the official SDK, as the router's adapter asks."""
    result = StreamResult()
    t0 = time.perf_counter()
    stream = await client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=[
            {"role": "system", "content": "You are StarGuide, a patient mentor."},
            {"role": "user", "content": message},
        ],
        max_tokens=1024,
        stream=True,
        stream_options={"include_usage": True},
    )
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if result.ttft is None:
                    result.ttft = time.perf_counter() - t0
                result.tokens += 1
    result.duration = time.perf_counter() - t0
    return result


async def run_baseline(args: argparse.Namespace) -> tuple[Phase, float]:
    """Warm-up, then the measured rounds; returns them and this process's CPU seconds."""
    if args.provider == "openai":
        client = openai.AsyncOpenAI(
            api_key="bench", base_url=args.vendor_url, max_retries=0, timeout=60.0
        )

        def one(i: int) -> Awaitable[StreamResult]:
            return sdk_stream(client, message_for(i))
    else:
        provider = OfflineProvider(token_delay_s=args.pace_ms / 1000)

        def one(i: int) -> Awaitable[StreamResult]:
            return baseline_stream(provider, message_for(i))

    await asyncio.gather(*(one(i) for i in range(args.chats)))
    phase = Phase()
    cpu0 = time.process_time()
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        phase.results += await asyncio.gather(*(one(i) for i in range(args.chats)))
        phase.wall += time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    if args.provider == "openai":
        await client.close()
    return phase, cpu


# ---- the stack: the server over HTTP --------------------------------------------------------


def server_child(args: argparse.Namespace, data_dir: Path) -> tuple[Child, str]:
    """`python -m server` in a temp DATA_DIR, and its base URL; the log goes to a file there."""
    port = args.port or free_port()
    settings = {"OFFLINE_TOKEN_DELAY_MS": str(args.pace_ms), "CHAT_RATE_LIMIT": "100000/minute"}
    if args.provider == "openai":
        settings |= {
            "AI_PROVIDERS": "openai",
            "OPENAI_API_KEY": "bench",
            "OPENAI_BASE_URL": args.vendor_url,
        }
    env = server_env(
        port=port,
        data_dir=data_dir / "data",
        settings=settings,
        command_counts=data_dir / "commands.json",
    )
    return Child("starguide", server_argv(env), env, data_dir), f"http://127.0.0.1:{port}"


@dataclass
class Chat:
    token: str
    conversation_id: str
    message: str


async def register_chats(client: httpx.AsyncClient, n: int) -> list[Chat]:
    """One user and one conversation per chat; a few at a time (argon2 is CPU-heavy)."""
    sem = asyncio.Semaphore(4)
    run = uuid.uuid4().hex[:8]

    async def one(i: int) -> Chat:
        async with sem:
            user = await register(
                client,
                email=f"bench-{run}-{i}@example.com",
                password=PASSWORD,
                display_name=f"Bench learner {i}",
            )
            conversation_id = await new_conversation(client, user["token"])
            return Chat(user["token"], conversation_id, message_for(i))

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def check_event(result: StreamResult, state: dict[str, Any], name: str, data: Any) -> bool:
    """Folds one event into `state`; True when the reply has ended."""
    if name == "assistant:start":
        state["started"] = True
        return False
    if name == "assistant:token":
        seq = data.get("seq")
        if seq != result.tokens + 1:
            result.fail("seq gap", f"expected {result.tokens + 1}, got {seq}")
        if data.get("message_id") != state.setdefault("message_id", data.get("message_id")):
            result.fail("token for another message")
        state["parts"].append(data.get("delta", ""))
        result.tokens += 1
        return False
    if name == "assistant:end":
        if not state.get("started"):
            result.fail("no assistant:start")
        if data.get("status") != "complete":
            result.fail("status not complete", repr(data.get("status")))
        if data.get("content") != "".join(state["parts"]):
            result.fail("deltas differ from the end content")
        usage = data.get("usage") or {}
        result.usage_mismatch = usage.get("output_tokens") != result.tokens
        return True
    if name == "assistant:error":
        result.fail("assistant:error", str(data.get("code")))
        return True
    return False


async def sse_chat(client: httpx.AsyncClient, chat: Chat) -> StreamResult:
    result = StreamResult()
    state: dict[str, Any] = {"parts": []}
    ended = False
    t0 = time.perf_counter()
    try:
        async with client.stream(
            "POST",
            f"/api/v1/conversations/{chat.conversation_id}/messages",
            json={"content": chat.message, "client_message_id": str(uuid.uuid4())},
            headers={
                "Authorization": f"Bearer {chat.token}",
                "Accept": "text/event-stream",
            },
        ) as resp:
            result.status = resp.status_code
            # The route documents 201 for both forms; accept any 2xx event stream here and
            # report the status seen, so a change shows up in the output.
            if not resp.is_success or "text/event-stream" not in resp.headers.get(
                "content-type", ""
            ):
                body = (await resp.aread()).decode(errors="replace")[:200]
                result.fail(f"HTTP {resp.status_code}", body)
                return result
            name, data_lines = "message", []
            async for line in resp.aiter_lines():
                if line.startswith(":"):
                    result.comment_lines += 1
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data_lines.append(line[5:].removeprefix(" "))
                elif line == "" and data_lines:
                    if ended:
                        result.fail("event after the end", name)
                    elif name == "assistant:token" and result.ttft is None:
                        result.ttft = time.perf_counter() - t0
                    ended = check_event(result, state, name, json.loads("\n".join(data_lines)))
                    name, data_lines = "message", []
                    if ended:
                        result.duration = time.perf_counter() - t0
            # Read on to the end of the response, as a fetch() reader would: the server must
            # close the stream after the last event, and the connection is reused.
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        result.fail(type(exc).__name__, str(exc))
    if not ended:
        result.duration = time.perf_counter() - t0
        result.fail("no assistant:end")
    return result


async def stack_round(
    client: httpx.AsyncClient, chats: list[Chat]
) -> tuple[list[StreamResult], float]:
    t0 = time.perf_counter()
    results = await asyncio.gather(*(sse_chat(client, c) for c in chats))
    return list(results), time.perf_counter() - t0


async def run_stack(args: argparse.Namespace, server: Child, base_url: str) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.chats + 8, max_keepalive_connections=args.chats + 8)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=httpx.Timeout(60.0), limits=limits, trust_env=False
    ) as client:
        ready_s = await wait_ready(server, client, timeout_s=90.0)
        chats = await register_chats(client, args.chats)
        warm, _ = await stack_round(client, chats)
        await asyncio.sleep(args.settle_s)  # the warm-up's after-reply work (memory, titles)
        db_pid = embedded_db_pid(server.workdir / "data")
        counts_path = server.workdir / "commands.json"
        commands0 = await command_snapshot(server, counts_path)
        phase = Phase()
        cpu0 = proc_cpu(server.pid)
        db0 = cpu_if_alive(db_pid)
        me0 = time.process_time()
        for _ in range(args.rounds):
            results, wall = await stack_round(client, chats)
            phase.results += results
            phase.wall += wall
        me_cpu = time.process_time() - me0
        await asyncio.sleep(args.settle_s)  # the last round's after-reply work is ours too
        server_cpu = proc_cpu(server.pid) - cpu0
        db_cpu = proc_cpu(db_pid) - db0 if db_pid and db0 is not None else None
        commands1 = await command_snapshot(server, counts_path)
        # The settle time itself, idle: how much of server_cpu is background noise.
        idle0 = proc_cpu(server.pid)
        await asyncio.sleep(args.settle_s)
        idle_cpu = proc_cpu(server.pid) - idle0
        commands2 = await command_snapshot(server, counts_path)
        page_commands = await page_command_counts(client, server, counts_path, chats[0])
    return {
        "phase": phase,
        "warm_errors": sum(1 for r in warm if r.error is not None),
        "server_cpu": server_cpu,
        "idle_cpu": idle_cpu,
        "db_cpu": db_cpu,
        "client_cpu": me_cpu,
        "ready_s": ready_s,
        "commands": count_diff(commands1, commands0),
        "idle_commands": count_diff(commands2, commands1),
        "page_commands": page_commands,
    }


async def page_command_counts(
    client: httpx.AsyncClient, server: Child, counts_path: Path, chat: Chat
) -> dict[str, int]:
    """The MongoDB commands of one authenticated `GET .../messages?limit=50` (the second of
    two, so a cache the first one fills counts as it would in steady use)."""
    url = f"/api/v1/conversations/{chat.conversation_id}/messages"
    headers = {"Authorization": f"Bearer {chat.token}"}
    (await client.get(url, params={"limit": 50}, headers=headers)).raise_for_status()
    before = await command_snapshot(server, counts_path)
    (await client.get(url, params={"limit": 50}, headers=headers)).raise_for_status()
    return count_diff(await command_snapshot(server, counts_path), before)


# ---- report ------------------------------------------------------------------------------------
def summarise(
    args: argparse.Namespace, base: Phase, base_cpu: float, stack: dict[str, Any]
) -> dict[str, Any]:
    phase: Phase = stack["phase"]
    n = len(phase.results)
    failures = Counter(r.error for r in phase.results if r.error is not None)
    examples = {r.error: r.detail for r in reversed(phase.results) if r.error is not None}
    out: dict[str, Any] = {
        "chats": args.chats,
        "rounds": args.rounds,
        "pace_ms": args.pace_ms,
        "provider": args.provider,
        "messages": n,
        "failures": sum(failures.values()),
        "failure_kinds": dict(failures),
        "failure_examples": examples,
        "warmup_failures": stack["warm_errors"],
        "usage_mismatches": sum(1 for r in phase.ok if r.usage_mismatch),
        "comment_lines": sum(r.comment_lines for r in phase.results),
        "sse_http_status": dict(Counter(r.status for r in phase.results)),
        "server_ready_s": round(stack["ready_s"], 2),
    }
    for label, p in (("baseline", base), ("stack", phase)):
        t = p.ttfts or [float("nan")]
        d = [r.duration for r in p.ok] or [float("nan")]
        out[label] = {
            "ttft_p50_ms": pct(t, 0.5) * 1e3,
            "ttft_p99_ms": pct(t, 0.99) * 1e3,
            "tokens": p.tokens,
            "tokens_per_s": p.tokens / p.wall if p.wall else float("nan"),
            "stream_p50_s": pct(d, 0.5),
            "stream_p99_s": pct(d, 0.99),
            "tokens_per_stream": statistics.fmean(r.tokens for r in p.ok) if p.ok else 0.0,
        }
    out["added_ttft_p50_ms"] = out["stack"]["ttft_p50_ms"] - out["baseline"]["ttft_p50_ms"]
    out["added_ttft_p99_ms"] = out["stack"]["ttft_p99_ms"] - out["baseline"]["ttft_p99_ms"]
    tokens = phase.tokens or 1
    out["server_cpu_s"] = stack["server_cpu"]
    out["server_cpu_ms_per_message"] = stack["server_cpu"] / n * 1e3
    out["server_cpu_us_per_token"] = stack["server_cpu"] / tokens * 1e6
    out["server_idle_cpu_ms_per_s"] = stack["idle_cpu"] / args.settle_s * 1e3
    out["db_cpu_ms_per_message"] = (
        stack["db_cpu"] / n * 1e3 if stack["db_cpu"] is not None else None
    )
    out["client_cpu_ms_per_message"] = stack["client_cpu"] / n * 1e3
    out["commands"] = stack["commands"]
    out["commands_per_message"] = sum(stack["commands"].values()) / n
    out["idle_commands_per_s"] = sum(stack["idle_commands"].values()) / args.settle_s
    out["page_commands"] = stack["page_commands"]
    out["baseline_cpu_ms_per_stream"] = base_cpu / len(base.results) * 1e3
    out["baseline_cpu_us_per_token"] = base_cpu / (base.tokens or 1) * 1e6
    out["cpu_ratio"] = out["server_cpu_ms_per_message"] / out["baseline_cpu_ms_per_stream"]
    return out


def print_report(s: dict[str, Any]) -> None:
    b, st = s["baseline"], s["stack"]
    print(
        f"{s['chats']} concurrent chats x {s['rounds']} rounds = {s['messages']} messages "
        f"per path (after one warm-up round), {s['provider']} provider at {s['pace_ms']} ms per "
        f"{'word' if s['provider'] == 'offline' else 'chunk (a fake vendor, the official SDK)'}, "
        f"{b['tokens_per_stream']:.0f} (baseline) and {st['tokens_per_stream']:.0f} (stack) "
        "words per reply"
    )
    print(f"{'':34}{'baseline':>12}{'stack':>12}{'added':>12}")
    print(
        f"{'TTFT p50 (ms)':34}{b['ttft_p50_ms']:>12.1f}{st['ttft_p50_ms']:>12.1f}"
        f"{s['added_ttft_p50_ms']:>12.1f}"
    )
    print(
        f"{'TTFT p99 (ms)':34}{b['ttft_p99_ms']:>12.1f}{st['ttft_p99_ms']:>12.1f}"
        f"{s['added_ttft_p99_ms']:>12.1f}"
    )
    print(
        f"{'stream duration p50 (s)':34}{b['stream_p50_s']:>12.2f}{st['stream_p50_s']:>12.2f}"
        f"{st['stream_p50_s'] - b['stream_p50_s']:>12.2f}"
    )
    print(
        f"{'stream duration p99 (s)':34}{b['stream_p99_s']:>12.2f}{st['stream_p99_s']:>12.2f}"
        f"{st['stream_p99_s'] - b['stream_p99_s']:>12.2f}"
    )
    print(
        f"{'tokens relayed per s (aggregate)':34}{b['tokens_per_s']:>12.0f}"
        f"{st['tokens_per_s']:>12.0f}{st['tokens_per_s'] / b['tokens_per_s']:>11.0%}"
    )
    print(
        f"{'CPU per message/stream (ms)':34}{s['baseline_cpu_ms_per_stream']:>12.2f}"
        f"{s['server_cpu_ms_per_message']:>12.2f}   (stack: server process only)"
    )
    print(
        f"{'CPU per token (µs)':34}{s['baseline_cpu_us_per_token']:>12.1f}"
        f"{s['server_cpu_us_per_token']:>12.1f}"
    )
    db = s["db_cpu_ms_per_message"]
    print(
        f"not ours: SecantusDB child {db:.2f} ms CPU per message; "
        if db is not None
        else "not ours: SecantusDB child CPU unknown; ",
        end="",
    )
    print(
        f"bench client (httpx, SSE parsing) {s['client_cpu_ms_per_message']:.2f} ms per message; "
        f"server idle {s['server_idle_cpu_ms_per_s']:.1f} ms CPU per s"
    )
    print(
        f"failures: {s['failures']} of {s['messages']}"
        + (f" {s['failure_kinds']} e.g. {s['failure_examples']}" if s["failures"] else "")
        + f"; warm-up failures: {s['warmup_failures']}; usage.output_tokens != tokens relayed:"
        f" {s['usage_mismatches']}; comment lines: {s['comment_lines']}; SSE HTTP status:"
        f" {s['sse_http_status']}"
    )
    print_goals(s)
    print(
        "note: the stack's TTFT includes several round trips to SecantusDB (auth user lookup, "
        "storing the learner message and the empty reply before calling the AI, loading "
        "history and memory), whose wall-clock time is not our process's cost; compare server "
        "CPU per message across runs."
    )


def by_command(counts: dict[str, int]) -> dict[str, int]:
    """`{"find users": 2, "find messages": 1}` -> `{"find": 3}`, largest first."""
    total: Counter[str] = Counter()
    for key, value in counts.items():
        total[key.split(" ", 1)[0]] += value
    return dict(total.most_common())


def print_goals(s: dict[str, Any]) -> None:
    """Issue 20's two chat figures, with the commands behind the second."""
    n = s["messages"]
    if s["provider"] == "offline":
        print(
            f"GOAL server CPU per message / offline provider alone: {s['cpu_ratio']:.1f}x "
            "(goal <= 4x)"
        )
    else:
        print(
            f"server CPU per message / the {s['provider']} SDK alone on the same stream: "
            f"{s['cpu_ratio']:.1f}x (issue 20's goal is stated against the offline provider: "
            "run without --provider)"
        )
    print(
        f"GOAL database commands per chat message (server process, after-reply work "
        f"included): {s['commands_per_message']:.1f} (goal <= 10)"
    )
    per = ", ".join(f"{k} {v / n:.2f}" for k, v in by_command(s["commands"]).items())
    print(f"  by command: {per}")
    detail = ", ".join(f"{k} {v / n:.2f}" for k, v in s["commands"].items())
    print(f"  by command and collection: {detail}")
    print(f"  idle (settle period, background tasks): {s['idle_commands_per_s']:.1f} per s")
    page = s["page_commands"]
    print(
        f"GOAL database commands for an authenticated page of messages (limit=50): "
        f"{sum(page.values())} (goal <= 2): {page}"
    )


@contextmanager
def fake_vendor(args: argparse.Namespace) -> Iterator[None]:
    """With `--provider openai`: the fake vendor in a child process (its CPU is not ours, nor
    the baseline's), its URL in `args.vendor_url`."""
    if args.provider != "openai":
        yield
        return
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "tests.ai_router.fakes",
            "--first-token-delay-ms",
            str(args.pace_ms),
            "--chunk-delay-ms",
            str(args.pace_ms),
            "--chunks",
            str(args.vendor_chunks),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        args.vendor_url = f"http://127.0.0.1:{int(proc.stdout.readline())}/v1"
        yield
    finally:
        proc.stdin.close()
        proc.wait(10)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    base, base_cpu = await run_baseline(args)
    data_dir = Path(tempfile.mkdtemp(prefix="starguide-bench-"))
    server, base_url = server_child(args, data_dir)
    problems: list[str] = []
    try:
        server.start()
        try:
            stack = await run_stack(args, server, base_url)
        except BaseException:
            print(f"server log tail ({server.log_path}):\n{log_tail(server.log_path)}")
            raise
        finally:
            problems += server.stop(embedded_db_pid(data_dir / "data"))
        errors = [
            line
            for line in server.log_path.read_text(errors="replace").splitlines()
            if '"level": "error"' in line or "Traceback" in line
        ]
        if problems or any(r.error for r in stack["phase"].results):
            print(f"server log tail:\n{log_tail(server.log_path)}", file=sys.stderr)
    finally:
        if args.keep_data:
            print(f"kept {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    summary = summarise(args, base, base_cpu, stack)
    summary["server_log_errors"] = len(errors)
    summary["shutdown_problems"] = problems
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=50, help="concurrent chats (one user each)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds after a warm-up")
    parser.add_argument("--pace-ms", type=int, default=20, help="provider ms per word or chunk")
    parser.add_argument(
        "--provider",
        choices=("offline", "openai"),
        default="offline",
        help="offline: issue 20's baseline; openai: the official SDK against a fake vendor",
    )
    parser.add_argument(
        "--vendor-chunks", type=int, default=120, help="text chunks per answer (--provider openai)"
    )
    parser.add_argument(
        "--settle-s",
        type=float,
        default=1.0,
        help="pause after the warm-up and after the last round (after-reply work)",
    )
    parser.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep-data", action="store_true", help="keep the temp DATA_DIR and log")
    args = parser.parse_args()
    if sys.platform != "linux":
        parser.error("reads /proc/<pid>/stat: Linux only")
    with fake_vendor(args):
        summary = asyncio.run(amain(args))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_report(summary)
        if summary["server_log_errors"]:
            print(f"server log: {summary['server_log_errors']} error lines (use --keep-data)")
        for problem in summary["shutdown_problems"]:
            print(f"shutdown: {problem}")
    if summary["failures"] or summary["warmup_failures"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
