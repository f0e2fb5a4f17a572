"""XP awards: awards per second and our CPU per award, through the service vs the bare driver.

Baseline, in this process with the same database and the same concurrency: the bare PyMongo
insert of the ledger event plus one `$inc` upsert of the totals, the minimum any exactly-once
ledger needs. Service: `ProgressService.award` with the shipped achievements catalog and the
Redis leaderboard, as the server runs it: ledger insert, `$inc` returning the totals, `ZADD GT`
on the weekly board, then the daily-goal and achievement checks (a few unlocks and goal awards
per learner early on, as in real use). A third phase re-sends awards that exist already (the
duplicate-key path: a retried request).

Rounds alternate baseline and service so drift hits both. CPU is this process's own
(`time.process_time`): the database (embedded SecantusDB, a Python server, or MONGODB_URL) and
redis-server run as other processes, and their time is not ours; awards per second are bounded
by the database, so read them as a ratio, not as a capacity. At the end the totals are checked
against the ledger and the board. Run from the repo root (Linux; about a minute):

    .venv/bin/python bench/xp_award.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from beanie import PydanticObjectId, init_beanie  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress as Bar  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.procstats import free_port  # noqa: E402
from models import DOCUMENT_MODELS, Profile, Progress, User  # noqa: E402
from server.embedded_db import EmbeddedMongo  # noqa: E402
from server.leaderboard.service import Leaderboards, board_key  # noqa: E402
from server.progress.catalog import load_catalog  # noqa: E402
from server.progress.service import ProgressService  # noqa: E402

AT = datetime(2026, 3, 4, 6, 30, tzinfo=UTC)  # one fixed moment: every award in one week
WEEK, DAY = "2026-W10", "2026-03-04"
console = Console()


@dataclass
class Phase:
    awards: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.awards / self.wall

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.awards * 1000


async def run_phase(jobs: list[Callable[[], Awaitable[Any]]], concurrency: int) -> Phase:
    queue = list(reversed(jobs))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Phase(len(jobs), time.perf_counter() - wall0, time.process_time() - cpu0)


async def start_redis(workdir: Path) -> tuple[str, subprocess.Popen[bytes] | None]:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"], None
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603, ASYNC220 - a fixed argv; only forks and execs
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = Redis(port=port)
    for _ in range(200):
        try:
            await client.ping()
            break
        except Exception:
            await asyncio.sleep(0.05)
    await client.aclose()
    return f"redis://127.0.0.1:{port}/0", proc


async def amain(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-xp-") as tmp:
        workdir = Path(tmp)
        embedded: EmbeddedMongo | None = None
        url = os.environ.get("MONGODB_URL")
        if not url:
            embedded = EmbeddedMongo(storage_path=workdir / "mongo")
            url = await embedded.start()
        redis_url, redis_proc = await start_redis(workdir)
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
        redis = Redis.from_url(redis_url)
        db_name = f"bench_xp_{uuid.uuid4().hex[:8]}"
        try:
            await init_beanie(database=mongo[db_name], document_models=DOCUMENT_MODELS)
            await bench(args, mongo, redis, db_name)
        finally:
            await mongo.drop_database(db_name)
            await mongo.close()
            await redis.aclose()
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait(10)
            if embedded is not None:
                await embedded.stop()


async def bench(
    args: argparse.Namespace, mongo: AsyncMongoClient[dict[str, Any]], redis: Redis, db: str
) -> None:
    org = PydanticObjectId()
    users = []
    for n in range(args.learners):
        user = User(
            email=f"bench{n}@example.com",
            org_id=org,
            profile=Profile(display_name=f"L{n}", timezone="Asia/Kolkata"),
        )
        users.append(await user.insert())
    service = ProgressService(catalog=load_catalog(), leaderboards=Leaderboards(redis))
    await service.sync_catalog()
    events = mongo[db]["bench_xp_events"]
    totals = mongo[db]["bench_progress"]
    await events.create_index([("user_id", 1), ("source", 1), ("source_id", 1)], unique=True)
    await totals.create_index([("user_id", 1)], unique=True)

    def bare(user: User, key: str) -> Callable[[], Awaitable[None]]:
        async def award() -> None:
            await events.insert_one(
                {
                    "user_id": user.id,
                    "org_id": org,
                    "amount": 5,
                    "source": "quiz",
                    "source_id": key,
                    "local_day": DAY,
                    "week": WEEK,
                    "created_at": AT,
                }
            )
            await totals.update_one(
                {"user_id": user.id},
                {"$inc": {"xp_total": 5, f"xp_by_week.{WEEK}": 5, f"days.{DAY}.xp": 5}},
                upsert=True,
            )

        return award

    def ours(user: User, key: str) -> Callable[[], Awaitable[None]]:
        async def award() -> None:
            await service.award(user=user, amount=5, source="quiz", source_id=key, at=AT)

        return award

    keys: list[tuple[User, str]] = []
    results: dict[str, list[Phase]] = {"bare": [], "service": [], "duplicate": []}
    per_round = args.awards
    with Bar(console=console, transient=True) as bar:
        task = bar.add_task("rounds", total=args.rounds + 1)
        for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
            batch = [(users[i % len(users)], f"r{round_}:{i}") for i in range(per_round)]
            base = await run_phase([bare(u, k) for u, k in batch], args.concurrency)
            mine = await run_phase([ours(u, k) for u, k in batch], args.concurrency)
            again = await run_phase([ours(u, k) for u, k in batch], args.concurrency)
            if round_:
                results["bare"].append(base)
                results["service"].append(mine)
                results["duplicate"].append(again)
            keys.extend(batch)
            bar.advance(task)

    # Exactness: every learner's total equals the ledger, and the board equals both.
    wrong = 0
    board = board_key(org, WEEK)
    for user in users:
        assert user.id is not None
        stored = await Progress.find_one({"user_id": user.id})
        ledger = await service.ledger_total(user_id=user.id)
        week = stored.xp_by_week.get(WEEK, 0) if stored else 0
        score = await redis.zscore(board, str(user.id))
        if not stored or stored.xp_total != ledger or score is None or int(score) != week:
            wrong += 1
    awards_made = len(keys)

    def med(name: str, attr: str) -> float:
        return statistics.median(getattr(p, attr) for p in results[name])

    title = f"XP awards: {args.rounds} round(s) of {per_round}, {args.concurrency} at once"
    table = Table(title=title)
    for column in ("path", "awards/s", "our CPU/award", "CPU vs bare"):
        table.add_column(column, justify="right")
    bare_cpu = med("bare", "cpu_ms")
    for name, label in (
        ("bare", "bare insert + $inc"),
        ("service", "ProgressService.award"),
        ("duplicate", "already awarded"),
    ):
        cpu = med(name, "cpu_ms")
        table.add_row(label, f"{med(name, 'rate'):.0f}", f"{cpu:.2f} ms", f"{cpu / bare_cpu:.2f}×")
    console.print(table)
    console.print(
        f"{awards_made} distinct awards to {len(users)} learners; "
        f"learners whose total, ledger and board disagree: {wrong}"
    )
    if wrong:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=20)
    parser.add_argument("--awards", type=int, default=400, help="awards per round and path")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    main()
