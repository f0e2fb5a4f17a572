"""Load test: N StarGuide instances, one database, Redis when N > 1, Locust's mixed workload.

    python bench/load.py --instances 2 --users 40 --spawn-rate 4 --duration 60

Starts the embedded database (or uses none of yours: MONGODB_URL and REDIS_URL of the
environment are ignored, as in every bench), a redis-server when more than one instance runs,
the instances (`python -m server`, offline provider at its default pace), then Locust headless
with `bench/locustfile.py` (each simulated learner sticks to one instance). It prints, per
request name and in total: requests per second, latency p50/p95/p99 and failures, and each
instance's CPU seconds per request, the figure that sizes a deployment (docs/SCALING.md).

Locust and the instances share this machine's cores, so the figures are a floor for what one
instance serves: run Locust from another machine for a real capacity test.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench._child import Child, server_argv, server_env, wait_ready_blocking  # noqa: E402
from bench.procstats import free_port, proc_cpu  # noqa: E402
from server.embedded_db import EmbeddedMongo  # noqa: E402


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("load: redis-server is needed for more than one instance (apt-get install it)")
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            import redis

            redis.Redis(port=port).ping()
            return proc, f"redis://127.0.0.1:{port}/0"
        except Exception:  # not up yet
            time.sleep(0.1)
    proc.kill()
    sys.exit("load: redis-server did not start")


def run_locust(args: argparse.Namespace, hosts: list[str], workdir: Path) -> Path:
    prefix = workdir / "locust"
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "bench" / "locustfile.py"),
        "--headless",
        "--only-summary",
        "--host",
        hosts[0],
        "-u",
        str(args.users),
        "-r",
        str(args.spawn_rate),
        "-t",
        f"{args.duration}s",
        "--csv",
        str(prefix),
    ]
    env = {"STARGUIDE_HOSTS": ",".join(hosts), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    print(f"load: {args.users} learners on {len(hosts)} instance(s) for {args.duration}s ...")
    subprocess.run(argv, env=env, check=False, cwd=workdir)  # noqa: S603 - fixed argv
    return Path(f"{prefix}_stats.csv")


def report(stats_path: Path, cpu_s: list[float]) -> None:
    rows = list(csv.DictReader(stats_path.open()))
    print(f"\n{'request':44} {'count':>7} {'fail':>5} {'rps':>7} {'p50':>6} {'p95':>6} {'p99':>6}")
    total = 0
    for row in rows:
        name = row["Name"] if row["Name"] != "Aggregated" else "ALL"
        if row["Name"] == "Aggregated":
            total = int(row["Request Count"])
        print(
            f"{name[:44]:44} {row['Request Count']:>7} {row['Failure Count']:>5} "
            f"{float(row['Requests/s']):7.1f} {row['50%']:>6} {row['95%']:>6} {row['99%']:>6}"
        )
    print("(latencies in ms; a streamed chat counts until its assistant:end)")
    for i, cpu in enumerate(cpu_s):
        per = cpu / max(total, 1) * 1000 * len(cpu_s)
        print(f"instance {i + 1}: {cpu:.1f} s CPU, about {per:.2f} ms CPU per request it served")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=1, help="server instances (Redis if >1)")
    parser.add_argument("--users", type=int, default=30, help="simulated learners")
    parser.add_argument("--spawn-rate", type=float, default=3, help="learners started per second")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--pace-ms", type=int, default=20, help="offline provider ms per word")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="starguide-load-"))
    database = EmbeddedMongo(storage_path=":memory:")
    mongodb_url = asyncio.run(database.start())
    redis_proc, redis_url = start_redis(workdir) if args.instances > 1 else (None, "")
    children: list[Child] = []
    hosts: list[str] = []
    try:
        for i in range(args.instances):
            port = free_port()
            settings = {
                "MONGODB_URL": mongodb_url,
                "OFFLINE_TOKEN_DELAY_MS": str(args.pace_ms),
                "CHAT_RATE_LIMIT": "100000/minute",
            }
            if redis_url:
                settings["REDIS_URL"] = redis_url
            env = server_env(port=port, data_dir=workdir / f"data{i}", settings=settings)
            child = Child(f"starguide{i + 1}", server_argv(), env, workdir)
            child.start()
            children.append(child)
            hosts.append(f"http://127.0.0.1:{port}")
        for child, host in zip(children, hosts, strict=True):
            wait_ready_blocking(child, host, 120)
        httpx.get(hosts[0] + "/healthz").raise_for_status()
        cpu0 = [proc_cpu(c.pid) for c in children]
        stats = run_locust(args, hosts, workdir)
        cpu = [proc_cpu(c.pid) - before for c, before in zip(children, cpu0, strict=True)]
        report(stats, cpu)
    finally:
        for child in children:
            child.stop()
        if redis_proc is not None:
            redis_proc.terminate()
        asyncio.run(database.stop())
        print(f"logs: {workdir}")


if __name__ == "__main__":
    main()
