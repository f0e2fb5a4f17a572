"""What every script shares (`scripts/_runtime.py`): the server's MongoDB client options."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scripts import create_indexes
from scripts._runtime import EXIT_FAILED
from tests.conftest import free_port, make_settings


def test_an_unreachable_database_fails_within_the_dependency_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scripts wait for MongoDB exactly as long as a request does (`DEPENDENCY_TIMEOUT_SECONDS`,
    through `server.connections.mongo_client`), not a timeout of their own."""
    nobody = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    settings = make_settings(nobody, tmp_path, dependency_timeout_seconds=0.5)
    started = time.monotonic()
    code = create_indexes.main([], settings=settings)
    elapsed = time.monotonic() - started
    assert code == EXIT_FAILED
    assert "the database failed" in capsys.readouterr().err
    assert elapsed < 3.0, elapsed  # 0.5 s plus start-up; the old fixed 5 s would fail this
