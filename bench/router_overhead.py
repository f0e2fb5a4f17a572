"""AI router overhead: TTFT added by the router vs the bare SDK, plan time, CPU per request.

Runs a fake OpenAI vendor (tests/ai_router/fakes.py) in a child process with a fixed
first-token delay, then streams the same requests through AsyncOpenAI directly and through
AIRouter, interleaved in rounds so drift hits both equally. Run from the repo root:

    .venv/bin/python bench/router_overhead.py

The plan figure is `router.plan` on the bench's one request, as the router sees it when the
chat service plans a request and `stream` plans it again: the message's classification is
memoised (ai_router/policy.py). The "new message" figure plans a different message each call,
so every call classifies. The CPU rounds alternate which path goes first; added CPU is printed
over all rounds and as the median of the per-round differences (a burst of load from another
process moves one round, not the median).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import openai  # noqa: E402
from openai.types.chat import ChatCompletionMessageParam  # noqa: E402

from ai_router import AIRouter, ChatRequest, ChatTurn, RouterConfig, TextDelta  # noqa: E402
from bench.procstats import pct  # noqa: E402

MESSAGE = (
    "A block of 2 kg slides down a 30 degree incline with friction 0.2. Find its acceleration."
)


async def run_batch(
    one: Callable[[], Awaitable[float]], *, requests: int, concurrency: int
) -> tuple[list[float], float]:
    """Run `requests` calls at `concurrency`; return TTFTs and CPU seconds used."""
    sem = asyncio.Semaphore(concurrency)
    ttfts: list[float] = []

    async def worker() -> None:
        async with sem:
            ttfts.append(await one())

    cpu0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(requests)))
    return ttfts, time.process_time() - cpu0


async def run_mixed(
    direct: Callable[[], Awaitable[float]],
    routed: Callable[[], Awaitable[float]],
    *,
    requests: int,
    concurrency: int,
) -> tuple[list[float], list[float]]:
    """`requests` of each path, alternating, sharing one concurrency limit."""
    sem = asyncio.Semaphore(concurrency)
    out: dict[str, list[float]] = {"direct": [], "router": []}

    async def worker(name: str, fn: Callable[[], Awaitable[float]]) -> None:
        async with sem:
            out[name].append(await fn())

    jobs = []
    for _ in range(requests):
        jobs.append(worker("direct", direct))
        jobs.append(worker("router", routed))
    await asyncio.gather(*jobs)
    return out["direct"], out["router"]


async def bench(args: argparse.Namespace, port: int) -> None:
    base_url = f"http://127.0.0.1:{port}/v1"
    client = openai.AsyncOpenAI(api_key="bench", base_url=base_url, max_retries=0)
    router = AIRouter.from_config(
        RouterConfig(openai_api_key="bench", openai_base_url=base_url, providers=["openai"])
    )
    request = ChatRequest(
        message=MESSAGE,
        system_prompt="You are a patient mentor.",
        history=(
            ChatTurn(role="user", content="Hi"),
            ChatTurn(role="assistant", content="Hello! Ask away."),
        ),
    )
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": request.system_prompt},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! Ask away."},
        {"role": "user", "content": MESSAGE},
    ]

    async def direct() -> float:
        t0 = time.perf_counter()
        ttft = 0.0
        stream = await client.chat.completions.create(
            model="gpt-4.1",
            messages=messages,
            max_completion_tokens=1024,
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if not ttft and chunk.choices and chunk.choices[0].delta.content:
                ttft = time.perf_counter() - t0
        return ttft

    async def routed() -> float:
        t0 = time.perf_counter()
        ttft = 0.0
        async for event in router.stream(request):
            if not ttft and isinstance(event, TextDelta):
                ttft = time.perf_counter() - t0
        return ttft

    try:
        for fn in (direct, routed):  # warm-up: connections, imports, caches
            await run_batch(fn, requests=args.concurrency * 2, concurrency=args.concurrency)
        # TTFT: direct and routed requests interleaved in the same batches, so both see the
        # same load on the event loop and the 2 cores.
        d_ttft, r_ttft = await run_mixed(
            direct, routed, requests=args.requests, concurrency=args.concurrency
        )
        # CPU: separate batches so process_time can be attributed to one path.
        per_round = args.requests // args.rounds
        d_rounds: list[float] = []
        r_rounds: list[float] = []
        for n in range(args.rounds):
            # Either path first in turn: what a batch leaves behind (garbage, a cold cache)
            # is paid by the batch after it, so neither path always pays for the other.
            order = [(direct, d_rounds), (routed, r_rounds)]
            for fn, rounds in order[:: 1 if n % 2 == 0 else -1]:
                cpu = (await run_batch(fn, requests=per_round, concurrency=args.concurrency))[1]
                rounds.append(cpu / per_round)
        d_cpu, r_cpu = sum(d_rounds), sum(r_rounds)
        cpu_n = args.rounds
        added_median = statistics.median(r - d for r, d in zip(r_rounds, d_rounds, strict=True))

        plan_times = []
        for _ in range(args.plan_calls):
            t0 = time.perf_counter()
            router.plan(request)
            plan_times.append(time.perf_counter() - t0)
        fresh = [
            request.model_copy(update={"message": f"{MESSAGE} ({n})"})
            for n in range(args.plan_calls // 4)
        ]
        cold_times = []
        for other in fresh:
            t0 = time.perf_counter()
            router.plan(other)
            cold_times.append(time.perf_counter() - t0)
    finally:
        await router.aclose()
        await client.close()

    n = len(d_ttft)
    print(
        f"requests per path: {n} (interleaved), concurrency {args.concurrency}, "
        f"fake first-token delay {args.first_token_delay_ms:.0f} ms, "
        f"{args.chunks} chunks per answer"
    )
    print(f"{'':24}{'p50':>10}{'p99':>10}")
    for label, values in (("TTFT direct SDK (ms)", d_ttft), ("TTFT via router (ms)", r_ttft)):
        print(f"{label:24}{pct(values, 0.5) * 1e3:>10.2f}{pct(values, 0.99) * 1e3:>10.2f}")
    add50 = (pct(r_ttft, 0.5) - pct(d_ttft, 0.5)) * 1e3
    add99 = (pct(r_ttft, 0.99) - pct(d_ttft, 0.99)) * 1e3
    print(
        f"{'added TTFT (ms)':24}{add50:>10.2f}{add99:>10.2f}   (targets <= 1 ms p50, <= 5 ms p99)"
    )
    print(
        f"plan decision: p50 {pct(plan_times, 0.5) * 1e6:.1f} µs, p99 "
        f"{pct(plan_times, 0.99) * 1e6:.1f} µs, mean {statistics.fmean(plan_times) * 1e6:.1f} µs"
        f" over {args.plan_calls} calls (target <= 100 µs)"
    )
    print(
        f"plan decision, a new message each call: p50 {pct(cold_times, 0.5) * 1e6:.1f} µs, "
        f"p99 {pct(cold_times, 0.99) * 1e6:.1f} µs over {len(cold_times)} calls"
    )
    sdk = d_cpu / cpu_n
    print(
        f"process CPU per request: direct {sdk * 1e3:.3f} ms, router "
        f"{r_cpu / cpu_n * 1e3:.3f} ms, added {(r_cpu - d_cpu) / cpu_n * 1e3:.3f} ms "
        f"(median of rounds {added_median * 1e3:.3f} ms; fake vendor runs in a child process)"
    )
    print(
        f"as a share of the SDK's CPU per request: plan p50 {pct(plan_times, 0.5) / sdk:.2%} "
        f"(new message {pct(cold_times, 0.5) / sdk:.2%}), added CPU "
        f"{(r_cpu - d_cpu) / cpu_n / sdk:.1%} (median of rounds {added_median / sdk:.1%}); "
        "goals <= 0.4% and <= 3%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="streamed requests per path")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="alternating direct/router batches for the CPU figures",
    )
    parser.add_argument("--first-token-delay-ms", type=float, default=50.0)
    parser.add_argument("--chunks", type=int, default=20, help="text chunks per answer")
    parser.add_argument("--plan-calls", type=int, default=20_000)
    args = parser.parse_args()
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "tests.ai_router.fakes",
            "--first-token-delay-ms",
            str(args.first_token_delay_ms),
            "--chunks",
            str(args.chunks),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        port = int(proc.stdout.readline())
        asyncio.run(bench(args, port))
    finally:
        proc.stdin.close()
        proc.wait(5)


if __name__ == "__main__":
    main()
