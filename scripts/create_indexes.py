"""Creates every index the models declare and reports, per collection, what it created.

Beanie creates a model's declared indexes when it is initialised; this runs that one model at a
time, listing the collection's indexes before and after, so the report names exactly what was
created and a conflict (an index of that name with other options) fails only its collection.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from beanie import Document, init_beanie
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from models import DOCUMENT_MODELS
from scripts._runtime import Parser, Summary, database, progress_bar, run_main
from server.config import Settings


def collection_name(model: type[Document]) -> str:
    name = getattr(model, "Settings").name  # noqa: B009 (the Beanie Settings inner class)
    return str(name)


async def index_names(collection: AsyncCollection[Any]) -> set[str]:
    """The collection's index names, without `_id_` (MongoDB makes it, no model declares it)."""
    cursor = await collection.list_indexes()
    return {raw["name"] async for raw in cursor} - {"_id_"}


async def run(args: argparse.Namespace, settings: Settings) -> Summary:
    summary = Summary("create_indexes")
    async with database(settings, init=False) as db:
        with progress_bar("creating indexes", len(DOCUMENT_MODELS)) as advance:
            for model in DOCUMENT_MODELS:
                name = collection_name(model)
                collection = db[name]
                before = await index_names(collection)
                try:
                    await init_beanie(database=db, document_models=[model])
                except OperationFailure as exc:
                    reason = str((exc.details or {}).get("errmsg") or exc)[:300]
                    summary.note("failed", name, reason, section=name)
                    advance(1)
                    continue
                after = await index_names(collection)
                created = sorted(after - before)
                summary.count(name, "created", len(created))
                summary.count(name, "unchanged", len(before & after))
                summary.row(name).detail = ", ".join(created)
                advance(1)
    total = summary.total("created")
    summary.footer.append(
        f"{total} index(es) created, {summary.total('unchanged')} already existed"
    )
    return summary


def build_parser() -> Parser:
    return Parser(
        prog="python -m scripts.create_indexes",
        description=(
            "Create every index the models declare (models/*.py, `Settings.indexes` and\n"
            "`Indexed` fields) and report per collection which were created and how many\n"
            "already existed. Existing indexes are never dropped or changed; a declared index\n"
            "that conflicts with an existing one of the same name is reported as failed.\n"
            "Running it again creates nothing."
        ),
        epilog=(
            "examples:\n"
            "  python -m scripts.create_indexes\n"
            "  MONGODB_URL=mongodb://db.internal:27017 python -m scripts.create_indexes\n"
            "\n"
            "exit codes: 0 every declared index exists, 1 some index could not be created\n"
            "(a conflict) or the database failed, 2 bad options."
        ),
    )


def main(argv: list[str] | None = None, *, settings: Settings | None = None) -> int:
    return run_main(build_parser(), run, argv, settings=settings)


if __name__ == "__main__":
    sys.exit(main())
