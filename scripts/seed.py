"""Loads the reference data every deployment needs, and optionally a demo organization.

The achievements catalog, the syllabus topics and the question bank come from the files shipped
with the package; each is synced by its stable key (code, topic id, question key), so new
entries are inserted, edited ones updated and the rest left untouched. The server also loads
them at start-up, but only into empty collections: after editing a data file, run this.
"""

from __future__ import annotations

import argparse
import sys

from redis.asyncio import Redis

from scripts import _demo
from scripts._runtime import Parser, ScriptError, Summary, database, run_main
from scripts.create_admin import passwords_for, valid_password
from server.config import Settings
from server.leaderboard.service import Leaderboards
from server.memory.taxonomy import load_taxonomy
from server.progress.catalog import load_catalog
from server.progress.service import ProgressService
from server.quiz import bank as quiz_bank


async def run(args: argparse.Namespace, settings: Settings) -> Summary:
    demo_password = args.demo_password
    if demo_password is not None:
        demo_password = valid_password(demo_password)
    summary = Summary("seed" + (" --demo" if args.demo else ""))
    taxonomy = load_taxonomy()
    try:
        questions = quiz_bank.load_bank(taxonomy=taxonomy)
    except quiz_bank.BankError as exc:
        raise ScriptError(str(exc)) from exc
    redis: Redis | None = Redis.from_url(settings.redis_url) if settings.redis_url else None
    try:
        async with database(settings) as db:
            progress = ProgressService(
                catalog=load_catalog(),
                # With Redis, demo XP also reaches the weekly leaderboards the server shows.
                leaderboards=Leaderboards(redis) if redis is not None else None,
                daily_goal_xp=settings.daily_goal_xp,
                chat_xp_daily_messages=settings.chat_xp_daily_messages,
            )
            summary.add_sync("achievements", await progress.sync_catalog())
            summary.add_sync("topics", await quiz_bank.sync_topics(taxonomy))
            summary.add_sync("questions", await quiz_bank.sync_bank(questions))
            if args.demo:
                await _demo.seed_demo(
                    _demo.DemoContext(
                        passwords=passwords_for(settings),
                        password=demo_password,
                        progress=progress,
                        taxonomy=taxonomy,
                        summary=summary,
                    )
                )
            summary.footer.append(f"database {db.name!r}")
    finally:
        if redis is not None:
            await redis.aclose()
    return summary


def build_parser() -> Parser:
    parser = Parser(
        prog="python -m scripts.seed",
        description=(
            "Load the achievements catalog, the syllabus topics and the question bank shipped\n"
            "with StarGuide into the database (new entries inserted, edited ones updated,\n"
            "identical ones left alone). With --demo, also create a demo coaching institute\n"
            "(organization 'demo') with a mentor, a study group and five learners with\n"
            "conversations, learner memory, quiz attempts, XP and achievements.\n"
            "Running it twice changes nothing the second time."
        ),
        epilog=(
            "examples:\n"
            "  python -m scripts.seed\n"
            "  python -m scripts.seed --demo                       (prints a generated password)\n"
            "  python -m scripts.seed --demo --demo-password 'choose-a-long-one'\n"
            "\n"
            "Demo accounts: meera@demo.example.com (mentor), asha@, rohan@, priya@, kabir@,\n"
            "ananya@demo.example.com (learners). Their password is set only when an account is\n"
            "created: --demo-password, or a random one printed once in the summary.\n"
            "exit codes: 0 done, 1 invalid data file, invalid password or database failure,\n"
            "2 bad options."
        ),
    )
    parser.add_argument("--demo", action="store_true", help="also create the demo organization")
    parser.add_argument(
        "--demo-password",
        metavar="P",
        help="password for demo accounts created now (default: random, printed once)",
    )
    return parser


def main(argv: list[str] | None = None, *, settings: Settings | None = None) -> int:
    return run_main(build_parser(), run, argv, settings=settings)


if __name__ == "__main__":
    sys.exit(main())
