"""Mock tests: building a 90-question test and scoring it, our CPU and database commands per
test, against a bare baseline in the same run.

Baseline (the least any stored mock test needs): the bare PyMongo insert of the same built
test document, one `find_one` reading it back, and one `$set` storing a result computed
elsewhere: three commands. Ours, in the same process and database, as the server runs them:
- build: `building.build` for a NEET test of 90 questions (the pattern scaled to 90: 23/22/45
  by section), with the learner's due reviews and weak topics, one candidate query over the
  packaged bank (571 questions), one `$in` read of the 90 drawn, one insert;
- 90 autosaves: `service.save_answer` for every question (one conditional update each);
- submit: `service.submit`: the result (marking, sections, topics, per question), the
  percentile (two indexed counts), the compare-and-set that ends the test, and its effects:
  mastery and FSRS per topic (one read, one bulk upsert, one compare-and-set per topic),
  the learner-memory evidence (one bulk write), streak and XP;
- marking alone: `marking.score` on the stored test (pure CPU, no database).

Each test is a new learner (so mastery documents are created, as for a first test), one test
at a time so that commands are counted per test exactly (PyMongo command monitoring on this
process's client). CPU is this process's own (`time.process_time`): the database (embedded
SecantusDB, a Python server, or MONGODB_URL) runs as another process and its time is not ours.
Run from the repo root (about a minute):

    .venv/bin/python bench/mock_test.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from beanie import PydanticObjectId, init_beanie  # noqa: E402
from pymongo import AsyncMongoClient, monitoring  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from models import DOCUMENT_MODELS, MockTest, Profile, User  # noqa: E402
from server.embedded_db import EmbeddedMongo  # noqa: E402
from server.practice import marking, service  # noqa: E402
from server.practice.schemas import AnswerSave, MockTestCreate  # noqa: E402
from server.progress.catalog import load_catalog  # noqa: E402
from server.progress.service import ProgressService  # noqa: E402
from server.quiz import bank  # noqa: E402

console = Console(width=120)
QUESTIONS = 90


class Commands(monitoring.CommandListener):
    """Counts the commands this process sends, by `<command> <collection>`."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        where = target if isinstance(target, str) else ""
        self.counts[f"{event.command_name} {where}".strip()] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def total(self) -> int:
        return sum(self.counts.values())


class Meter:
    def __init__(self, commands: Commands) -> None:
        self.commands = commands
        self.cpu: dict[str, list[float]] = {}
        self.sent: dict[str, list[int]] = {}
        self.kinds: dict[str, Counter[str]] = {}

    async def measure(self, name: str, step: Callable[[], Awaitable[Any]]) -> Any:
        before = Counter(self.commands.counts)
        cpu0 = time.process_time()
        value = await step()
        self.cpu.setdefault(name, []).append(time.process_time() - cpu0)
        diff = self.commands.counts - before
        self.sent.setdefault(name, []).append(sum(diff.values()))
        self.kinds[name] = diff
        return value


async def amain(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-mock-") as tmp:
        embedded: EmbeddedMongo | None = None
        url = os.environ.get("MONGODB_URL")
        if not url:
            embedded = EmbeddedMongo(storage_path=Path(tmp) / "mongo")
            url = await embedded.start()
        commands = Commands()
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, tz_aware=True, event_listeners=[commands]
        )
        db_name = f"bench_mock_{uuid.uuid4().hex[:8]}"
        try:
            await init_beanie(database=mongo[db_name], document_models=DOCUMENT_MODELS)
            await bank.seed_if_empty()
            await bench(args, mongo, db_name, Meter(commands))
        finally:
            await mongo.drop_database(db_name)
            await mongo.close()
            if embedded is not None:
                await embedded.stop()


async def bench(
    args: argparse.Namespace, mongo: AsyncMongoClient[dict[str, Any]], db: str, meter: Meter
) -> None:
    org = PydanticObjectId()
    progress = ProgressService(catalog=load_catalog())
    await progress.sync_catalog()
    practice = service.Practice(progress=progress, notifier=None)
    bare = mongo[db]["bench_mock_tests"]
    rng = random.Random(90)
    body = MockTestCreate(exam="NEET", questions=QUESTIONS)
    for round_ in range(args.tests + 1):  # test 0 warms up and is not counted
        user = await User(
            email=f"bench{round_}@example.com",
            org_id=org,
            profile=Profile(display_name=f"L{round_}", exam="NEET", timezone="Asia/Kolkata"),
        ).insert()

        async def build(user: User = user) -> MockTest:
            return await service.build(user=user, body=body)

        test: MockTest = await meter.measure("build", build)
        assert len(test.items) == QUESTIONS, len(test.items)
        document = test.model_dump(by_alias=True, exclude={"id", "revision_id"})

        async def baseline(document: dict[str, Any] = document) -> None:
            inserted = await bare.insert_one(dict(document))
            raw = await bare.find_one({"_id": inserted.inserted_id})
            assert raw is not None
            await bare.update_one(
                {"_id": inserted.inserted_id}, {"$set": {"status": "submitted", "score": 0}}
            )

        await meter.measure("baseline", baseline)

        async def fill(user: User = user, test: MockTest = test) -> None:
            for item in test.items:
                option = rng.choice([None, 0, 1, 2, 3, item.answer, item.answer])
                await service.save_answer(
                    user=user,
                    test_id=str(test.id),
                    question_id=str(item.question_id),
                    body=AnswerSave(option=option, time_spent_ms=rng.randrange(5000, 90000)),
                    practice=practice,
                )

        await meter.measure("autosaves", fill)

        async def submit(user: User = user, test: MockTest = test) -> Any:
            return await service.submit(user=user, test_id=str(test.id), practice=practice)

        result = await meter.measure("submit", submit)
        stored = await MockTest.get(test.id)
        assert stored is not None and stored.result == result

        async def mark(stored: MockTest = stored) -> None:
            marking.score(stored.items, stored.answers, stored.marking)

        await meter.measure("marking", mark)
        if round_ == 0:
            for cpu in meter.cpu.values():
                cpu.clear()
            for sent in meter.sent.values():
                sent.clear()
    report(args, meter)


def report(args: argparse.Namespace, meter: Meter) -> None:
    table = Table(title=f"Mock tests: {args.tests} tests of {QUESTIONS} questions (NEET pattern)")
    for column in ("step", "our CPU/test", "DB commands/test", "CPU vs baseline"):
        table.add_column(column, justify="right")
    base = statistics.median(meter.cpu["baseline"])
    rows = (
        ("baseline", "bare insert + find + $set"),
        ("build", "build (draw 90, insert)"),
        ("autosaves", "90 autosaves"),
        ("submit", "submit (score, end, effects)"),
        ("marking", "marking alone (pure)"),
    )
    for key, label in rows:
        cpu = statistics.median(meter.cpu[key])
        sent = statistics.median(meter.sent[key])
        table.add_row(label, f"{cpu * 1000:.1f} ms", f"{sent:.0f}", f"{cpu / base:.1f}×")
    console.print(table)
    for key in ("build", "submit"):
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(meter.kinds[key].items()))
        console.print(f"{key} commands (last test): {kinds}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, default=10)
    asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    main()
