"""Scripts run in-process against a fresh database per module; Beanie is pointed back at the
test's own client after each run (a script closes the client it opened)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from beanie import init_beanie
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from models import DOCUMENT_MODELS
from scripts._runtime import Summary
from server.config import Settings
from tests.conftest import TEST_JWT_SECRET, make_settings

ROOT = Path(__file__).resolve().parents[2]
Run = Callable[..., Coroutine[Any, Any, Summary]]


@pytest.fixture(scope="module")
async def script_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(mongo_url, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
async def db(script_settings: Settings, mongo_url: str) -> AsyncIterator[AsyncDatabase[Any]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    database = client[script_settings.mongodb_db]
    await init_beanie(database=database, document_models=DOCUMENT_MODELS)
    yield database
    await client.drop_database(script_settings.mongodb_db)
    await client.close()


@pytest.fixture(scope="module")
def run_script(script_settings: Settings, db: AsyncDatabase[Any]) -> Run:
    async def run(module: ModuleType, *argv: str) -> Summary:
        args: argparse.Namespace = module.build_parser().parse_args(list(argv))
        try:
            summary: Summary = await module.run(args, script_settings)
        finally:
            await init_beanie(database=db, document_models=DOCUMENT_MODELS)
        return summary

    return run


def script_env(settings: Settings | None = None, **extra: str) -> dict[str, str]:
    """The environment a subprocess reads its settings from (no MONGODB_URL unless given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "DATA_DIR"))}
    env["JWT_SECRET"] = TEST_JWT_SECRET
    env["ENVIRONMENT"] = "test"
    if settings is not None:
        assert settings.mongodb_url is not None
        env["MONGODB_URL"] = settings.mongodb_url
        env["MONGODB_DB"] = settings.mongodb_db
        env["DATA_DIR"] = str(settings.data_dir)
    env.update(extra)
    return env


def run_subprocess(
    name: str, *argv: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, "-m", f"scripts.{name}", *argv],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def collection_counts(db: AsyncDatabase[Any]) -> dict[str, int]:
    names = await db.list_collection_names()
    return {name: await db[name].count_documents({}) for name in sorted(names)}
