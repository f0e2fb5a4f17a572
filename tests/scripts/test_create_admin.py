"""`create_admin`: creates or promotes, sets a password only when it does not match."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from models import AuditLog, Organization, Profile, User
from scripts import create_admin
from scripts._runtime import ScriptError
from server.config import Settings
from tests.scripts.conftest import Run, collection_counts, run_subprocess, script_env

PASSWORD = "a long admin passphrase"


async def test_create_then_unchanged_then_new_password(
    run_script: Run, db: AsyncDatabase[Any], script_settings: Settings
) -> None:
    first = await run_script(create_admin, "--email", "Head@Example.com", "--password", PASSWORD)
    assert first.rows["admins"].created == 1
    admin = await User.find_one({"email": "head@example.com"})
    assert admin is not None and admin.role == "admin"
    org = await Organization.find_one({"slug": script_settings.default_org_slug})
    assert org is not None and admin.org_id == org.id
    passwords = create_admin.passwords_for(script_settings)
    assert await passwords.verify(PASSWORD, admin.password_hash)
    before = await collection_counts(db)

    second = await run_script(create_admin, "--email", "head@example.com", "--password", PASSWORD)
    assert second.rows["admins"].unchanged == 1 and second.changed == 0
    assert await collection_counts(db) == before  # not even an audit entry

    third = await run_script(
        create_admin, "--email", "head@example.com", "--password", "another passphrase"
    )
    assert third.rows["admins"].updated == 1
    admin = await User.find_one({"email": "head@example.com"})
    assert admin is not None and await passwords.verify("another passphrase", admin.password_hash)
    entries = await AuditLog.find({"target_id": str(admin.id)}).to_list()
    assert [e.action for e in entries] == ["user.admin_created", "user.admin_updated"]
    assert entries[1].details["changed"] == ["password"]
    assert "passphrase" not in repr([e.model_dump() for e in entries])


async def test_promotes_an_existing_learner(run_script: Run, script_settings: Settings) -> None:
    org = await Organization.find_one({"slug": script_settings.default_org_slug})
    assert org is not None and org.id is not None
    await User(
        email="learner@example.com", org_id=org.id, profile=Profile(display_name="L")
    ).insert()
    summary = await run_script(
        create_admin, "--email", "learner@example.com", "--password", PASSWORD
    )
    assert summary.rows["admins"].updated == 1
    user = await User.find_one({"email": "learner@example.com"})
    assert user is not None and user.role == "admin"


async def test_rejects_bad_input(run_script: Run) -> None:
    with pytest.raises(ScriptError, match="8 to 128"):
        await run_script(create_admin, "--email", "x@example.com", "--password", "short")
    with pytest.raises(ScriptError, match="not a valid email"):
        await run_script(create_admin, "--email", "not-an-email", "--password", PASSWORD)
    with pytest.raises(ScriptError, match="no organization"):
        await run_script(
            create_admin, "--email", "x@example.com", "--password", PASSWORD, "--org", "nope"
        )
    assert await User.find_one({"email": "x@example.com"}) is None


async def test_password_from_stdin_and_exit_codes(script_settings: Settings) -> None:
    env = script_env(script_settings)
    ok, short, usage = await asyncio.gather(
        asyncio.to_thread(
            run_subprocess,
            "create_admin",
            "--email",
            "ops@example.com",
            env=env,
            stdin=PASSWORD + "\n",
        ),
        asyncio.to_thread(
            run_subprocess,
            "create_admin",
            "--email",
            "ops2@example.com",
            env=env,
            stdin="short\n",
        ),
        asyncio.to_thread(run_subprocess, "create_admin", env=env),
    )
    assert ok.returncode == 0, ok.stderr
    assert "created" in ok.stdout and PASSWORD not in ok.stdout + ok.stderr
    assert short.returncode == 1 and "8 to 128" in short.stderr
    assert usage.returncode == 2 and "--email" in usage.stderr
    user = await User.find_one({"email": "ops@example.com"})
    assert user is not None and user.role == "admin"
    passwords = create_admin.passwords_for(script_settings)
    assert await passwords.verify(PASSWORD, user.password_hash)
    assert await User.find_one({"email": "ops2@example.com"}) is None
