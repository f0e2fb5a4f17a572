"""The scripts as an admin runs them: `python -m scripts.<name>` in a subprocess."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.scripts.conftest import run_subprocess, script_env

SCRIPTS = ("seed", "create_admin", "create_indexes", "import_profiles")


async def test_every_script_documents_itself() -> None:
    env = script_env()
    results = await asyncio.gather(
        *(asyncio.to_thread(run_subprocess, name, "--help", env=env) for name in SCRIPTS)
    )
    for name, result in zip(SCRIPTS, results, strict=True):
        assert result.returncode == 0, result.stderr
        assert f"python -m scripts.{name}" in result.stdout
        assert "examples:" in result.stdout and "exit codes:" in result.stdout


def _secantus_processes(storage: Path) -> list[int]:
    """Processes whose command line names this storage path (the embedded database)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "secantus" in cmdline and str(storage) in cmdline:
            found.append(int(entry.name))
    return found


async def test_without_mongodb_url_the_embedded_database_is_started_and_stopped(
    tmp_path: Path,
) -> None:
    # script_env drops MONGODB_URL even when the suite runs against an external server.
    env = script_env(DATA_DIR=str(tmp_path), MONGODB_DB="scripts_embedded")
    first = await asyncio.to_thread(run_subprocess, "create_indexes", env=env)
    assert first.returncode == 0, first.stderr
    assert "EMBEDDED" in first.stderr  # the one warning
    assert (tmp_path / "mongo").is_dir() and (tmp_path / "mongo.log").exists()
    assert not (tmp_path / "embedded-mongo.json").exists()
    assert _secantus_processes(tmp_path / "mongo") == []
    # The data stayed in DATA_DIR: the second run finds every index.
    second = await asyncio.to_thread(run_subprocess, "create_indexes", env=env)
    assert second.returncode == 0, second.stderr
    assert "0 index(es) created" in second.stdout
    assert _secantus_processes(tmp_path / "mongo") == []
