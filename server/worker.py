"""`python -m server.worker`: a process that only runs background jobs (docs/JOBS.md).

It runs the server's own lifespan (database, Redis, AI router, notifier: everything handlers
use, built once in server.app) without serving HTTP, with JOBS_IN_PROCESS forced on, until
SIGTERM or Ctrl-C. It needs REDIS_URL: without Redis, jobs live inside each server process and
a separate worker could never see them. Stopping it interrupts running attempts, which are
queued again and picked up by any worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from pydantic import ValidationError

from server.config import Settings
from server.logs import configure_logging

log = logging.getLogger("starguide")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m server.worker",
        description=(
            "Run StarGuide's background jobs (document processing, mail, ...) in a process of "
            "its own. Reads the same settings as the server (environment, .env); needs "
            "REDIS_URL. Set JOBS_IN_PROCESS=false on the API instances to leave all jobs to "
            "workers like this one. Stops on SIGTERM or Ctrl-C; running jobs are queued again."
        ),
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="jobs run at once by this process (default: JOBS_CONCURRENCY)",
    )
    return parser.parse_args(argv)


async def run(settings: Settings) -> None:
    from server.app import create_app

    app = create_app(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with app.router.lifespan_context(app):
        log.info("starguide worker ready", extra={"concurrency": settings.jobs_concurrency})
        await stop.wait()
    log.info("starguide worker stopped")


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    configure_logging()
    try:
        settings = Settings()
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            print(f"starguide worker: configuration error: {where}: {err['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
    if not settings.redis_url:
        print(
            "starguide worker: REDIS_URL is not set. Without Redis, jobs run inside the server "
            "process and a separate worker has nothing to do.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    update: dict[str, object] = {"jobs_in_process": True}
    if args.concurrency is not None:
        if args.concurrency < 1:
            print("starguide worker: --concurrency must be at least 1", file=sys.stderr)
            raise SystemExit(2)
        update["jobs_concurrency"] = args.concurrency
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings.model_copy(update=update)))


if __name__ == "__main__":
    main()
