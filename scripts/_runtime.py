"""What every admin script shares: settings, the database, a progress bar and the summary.

Scripts connect exactly like the server's lifespan does (the same `Settings`, the same embedded
dev database when `MONGODB_URL` is unset, reusing a running server's instance through its
state file), so an admin never has to tell a script where the data lives. Each script builds a
`Summary` as it goes; `main` renders it and turns it into the exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from beanie import PydanticObjectId, init_beanie
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from redis.asyncio import Redis
from rich import progress as rich_progress
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from models import DOCUMENT_MODELS
from server.cluster import Cluster
from server.config import Settings, get_settings
from server.connections import mongo_client, redis_options
from server.embedded_db import EmbeddedDatabaseError, EmbeddedMongo
from server.groups import service as groups_service
from server.library import service as library_service
from server.orgs import service as orgs_service
from server.quiz.bank import SyncResult
from server.users import service as users_service

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1  # something failed, or the input was invalid
EXIT_USAGE: Final = 2  # what argparse uses for bad options
NOTES_SHOWN: Final = 50  # names listed under the table; the rest are counted

Outcome = Literal["created", "updated", "unchanged", "skipped", "invalid", "failed"]
OUTCOMES: Final[tuple[Outcome, ...]] = (
    "created",
    "updated",
    "unchanged",
    "skipped",
    "invalid",
    "failed",
)

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class ScriptError(Exception):
    """A failure the admin can act on: printed as one line, exit code 1, no traceback."""


def configure_logging() -> None:
    """Warnings only (the embedded database's "not for production" notice, once), on stderr."""
    handler = RichHandler(console=err_console, show_path=False, show_time=False)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def stable_object_id(*parts: str) -> PydanticObjectId:
    """An ObjectId derived from `parts`: a document the scripts create under a stable key (a
    learner's imported history, a demo conversation) is found again by its id on a rerun,
    without a field of its own in the model."""
    digest = hashlib.sha256("\x1f".join(("starguide-scripts", *parts)).encode()).digest()
    return PydanticObjectId(digest[:12])


@asynccontextmanager
async def database(settings: Settings, *, init: bool = True) -> AsyncIterator[AsyncDatabase[Any]]:
    """The configured MongoDB (or the embedded dev database, started if no server runs it and
    stopped again afterwards), with Beanie initialised unless `init` is False."""
    embedded: EmbeddedMongo | None = None
    url = settings.mongodb_url
    if not url:
        embedded = EmbeddedMongo.in_data_dir(settings.data_dir)
        url = await embedded.start()
    # The server's client options (`server.connections`): the same bounded waits, so a script
    # against a database that is down fails within `DEPENDENCY_TIMEOUT_SECONDS` like a request.
    client = mongo_client(
        url, timeout_s=settings.dependency_timeout_seconds, appname="starguide-scripts"
    )
    try:
        db = client[settings.mongodb_db]
        if init:
            await init_beanie(database=db, document_models=DOCUMENT_MODELS)
        async with _invalidations(settings):
            yield db
    finally:
        await client.close()
        if embedded is not None:
            await embedded.stop()  # stops only an instance this process started


# The services whose documents running servers cache (`server/lookups.py`; the same list as
# the lifespan's in `server/app.py`).
_CACHED_SERVICES: Final = (users_service, orgs_service, groups_service, library_service)


@asynccontextmanager
async def _invalidations(settings: Settings) -> AsyncIterator[None]:
    """With `REDIS_URL`, the script's writes through the services reach the running servers'
    caches over the control channel at once (a promoted admin is an admin on the next
    request). Without Redis there is one server process, out of this one's reach: its cached
    copies lapse within the caches' TTL (60 s)."""
    if not settings.redis_url:
        yield
        return
    redis = Redis.from_url(
        settings.redis_url, **redis_options(timeout_s=settings.dependency_timeout_seconds)
    )
    cluster = Cluster(redis)  # publishes only: a script listens to nobody
    for cached in _CACHED_SERVICES:
        cached.attach_cache(cluster)
    try:
        yield
    finally:
        for cached in _CACHED_SERVICES:
            cached.detach_cache(cluster)
        await redis.aclose()


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (cleared when done, silent when not a terminal); yields
    `advance(n)`."""
    # rich's bar, not our `Progress` document: a name the ownership check must not mistake.
    progress = rich_progress.Progress(
        rich_progress.TextColumn("{task.description}"),
        rich_progress.BarColumn(),
        rich_progress.MofNCompleteColumn(),
        rich_progress.TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    with progress:
        task = progress.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            progress.advance(task, n)

        yield advance


@dataclass
class Row:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    invalid: int = 0
    failed: int = 0
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Note:
    outcome: Outcome
    name: str
    reason: str


@dataclass
class Summary:
    """Counts per section (achievements, users, ...) plus named notes for what was skipped,
    invalid or failed. `secrets` are shown once on the console and never logged."""

    title: str
    rows: dict[str, Row] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)

    def row(self, section: str) -> Row:
        return self.rows.setdefault(section, Row())

    def count(self, section: str, outcome: Outcome, n: int = 1) -> None:
        row = self.row(section)
        setattr(row, outcome, getattr(row, outcome) + n)

    def add_sync(self, section: str, result: SyncResult) -> None:
        self.count(section, "created", result.created)
        self.count(section, "updated", result.updated)
        self.count(section, "unchanged", result.unchanged)

    def note(self, outcome: Outcome, name: str, reason: str, *, section: str | None = None) -> None:
        """Names something skipped, invalid or failed (and counts it under `section`)."""
        self.notes.append(Note(outcome, name, reason))
        if section is not None:
            self.count(section, outcome)

    def total(self, outcome: Outcome) -> int:
        return sum(getattr(row, outcome) for row in self.rows.values())

    @property
    def changed(self) -> int:
        return self.total("created") + self.total("updated")

    @property
    def ok(self) -> bool:
        return not (self.total("failed") or self.total("invalid"))

    def render(self, out: Console | None = None) -> None:
        out = out or console
        table = Table(title=self.title, title_justify="left")
        table.add_column("")
        shown = [o for o in OUTCOMES if o in ("created", "updated", "unchanged") or self.total(o)]
        for outcome in shown:
            table.add_column(outcome, justify="right")
        details = any(row.detail for row in self.rows.values())
        if details:
            table.add_column("details")
        for section, row in self.rows.items():
            cells = [section, *(str(getattr(row, o)) for o in shown)]
            table.add_row(*cells, *([row.detail] if details else []))
        out.print(table)
        for note in self.notes[:NOTES_SHOWN]:
            out.print(f"  {note.outcome}: {note.name}: {note.reason}", markup=False)
        if len(self.notes) > NOTES_SHOWN:
            out.print(f"  ... and {len(self.notes) - NOTES_SHOWN} more", markup=False)
        for line in self.footer:
            out.print(line, markup=False)
        for line in self.secrets:
            out.print(line, markup=False)


class Parser(argparse.ArgumentParser):
    """argparse with examples kept as written (the epilog) and the defaults shown."""

    def __init__(self, *, prog: str, description: str, epilog: str) -> None:
        super().__init__(
            prog=prog,
            description=description,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )


Runner = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, Summary]]


def run_main(
    parser: argparse.ArgumentParser,
    runner: Runner,
    argv: list[str] | None,
    *,
    settings: Settings | None = None,
) -> int:
    """Parses `argv`, runs the script and renders its summary; returns the exit code (2 for a
    usage error, 1 for a failure or invalid input, 0 otherwise)."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    configure_logging()
    try:
        settings = settings or get_settings()
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]).upper() for e in exc.errors() if e["loc"])
        err_console.print(f"error: invalid settings ({fields or 'see the server docs'})")
        return EXIT_FAILED
    try:
        summary = asyncio.run(runner(args, settings))
    except ScriptError as exc:
        err_console.print(f"error: {exc}", markup=False)
        return EXIT_FAILED
    except EmbeddedDatabaseError as exc:
        err_console.print(f"error: {exc}", markup=False)
        return EXIT_FAILED
    except PyMongoError as exc:
        err_console.print(f"error: the database failed: {type(exc).__name__}", markup=False)
        err_console.print(f"  {str(exc)[:300]}", markup=False)
        return EXIT_FAILED
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    summary.render()
    return EXIT_OK if summary.ok else EXIT_FAILED
