"""`import_profiles`: legacy files become users with memory and history, idempotently."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from models import AuditLog, Conversation, LearnerTopic, Message, User
from scripts import import_profiles
from server.auth import service as auth_service
from server.auth.passwords import Passwords
from server.auth.schemas import LoginRequest
from server.auth.throttle import LoginThrottle, limits_storage
from server.config import Settings
from server.errors import Unauthorized
from server.memory import service as memory
from server.memory.taxonomy import load_taxonomy
from tests.scripts.conftest import Run, collection_counts

RAVI: dict[str, Any] = {
    "user_id": "user_123",
    "name": "Ravi",
    "exam": "JEE",
    "coaching": "Allen",
    "weak_topics": ["Rotational Motion", "Physics", "basket weaving"],
    "history": [
        {
            "role": "user",
            "content": "I don't understand torque",
            "timestamp": "2024-05-01T10:00:00",
        },
        {"role": "assistant", "content": "Torque is r x F, the turning effect of a force."},
        {"role": "user", "content": "And what is angular momentum?"},
        {"role": "assistant", "content": "L = I w for a rigid body."},
    ],
    "last_seen": "ignored",
}
MEENA = {"user_id": "user_456", "name": "Meena", "exam": "NEET", "weak_topics": ["mitosis"]}
INVALID = {
    "bad_json.json": "{not json",
    "blank_id.json": json.dumps({"user_id": "  ", "name": "Blank Id"}),
    "wrong_types.json": json.dumps({"user_id": "user_9", "weak_topics": "Physics"}),
    "bad_role.json": json.dumps(
        {"user_id": "user_8", "history": [{"role": "system", "content": "x"}]}
    ),
    "not_object.json": json.dumps([RAVI]),
    "zz_duplicate.json": json.dumps({"user_id": "user_123", "name": "Ravi again"}),
    # No user_id: the file name gives it, which ravi.json already has.
    "user_123.json": json.dumps({"name": "Ravi by file name"}),
}


@pytest.fixture(scope="module")
def legacy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("legacy")
    (directory / "ravi.json").write_text(json.dumps(RAVI))
    (directory / "meena.json").write_text(json.dumps(MEENA))
    (directory / "notes.txt").write_text("not a profile")
    for name, text in INVALID.items():
        (directory / name).write_text(text)
    return directory


def _invalid(summary: Any) -> dict[str, str]:
    return {n.name: n.reason for n in summary.notes if n.outcome == "invalid"}


async def test_dry_run_writes_nothing(
    run_script: Run, db: AsyncDatabase[Any], legacy_dir: Path
) -> None:
    before = await collection_counts(db)
    summary = await run_script(import_profiles, str(legacy_dir), "--dry-run")
    assert summary.rows["profiles"].created == 2
    assert summary.rows["messages"].created == 4
    assert set(_invalid(summary)) == set(INVALID)
    assert await collection_counts(db) == before


async def test_import_then_rerun_changes_nothing(
    run_script: Run, db: AsyncDatabase[Any], legacy_dir: Path
) -> None:
    summary = await run_script(import_profiles, str(legacy_dir))
    assert not summary.ok  # invalid files make the run fail (exit 1), the valid ones import
    assert summary.rows["profiles"].created == 2
    assert summary.rows["profiles"].invalid == len(INVALID)
    reasons = _invalid(summary)
    assert "not valid JSON" in reasons["bad_json.json"]
    assert "user_id" in reasons["blank_id.json"]
    assert "weak_topics" in reasons["wrong_types.json"]
    assert "history.0.role" in reasons["bad_role.json"]
    assert "JSON object" in reasons["not_object.json"]
    assert "duplicate user_id (also in ravi.json)" in reasons["zz_duplicate.json"]
    assert "duplicate user_id (also in ravi.json)" in reasons["user_123.json"]
    assert any("basket weaving" in n.reason for n in summary.notes if n.outcome == "skipped")

    ravi = await User.find_one({"legacy_id": "user_123"})
    assert ravi is not None and ravi.id is not None
    assert ravi.password_hash is None and ravi.role == "learner"
    assert ravi.email.endswith("@legacy.starguide.invalid")
    assert ravi.profile.display_name == "Ravi" and ravi.profile.coaching == "Allen"
    weak = await memory.weak_topics(ravi.id, limit=100)
    assert weak[0].topic_id == "physics.rotational_motion" and weak[0].score == pytest.approx(1)
    physics = {t.id for t in load_taxonomy().topics_of("physics")}
    assert {w.topic_id for w in weak} == physics  # the subject: all its topics, weaker
    assert all(w.score == pytest.approx(0.6) for w in weak[1:])
    meena = await User.find_one({"legacy_id": "user_456"})
    assert meena is not None
    assert [w.topic_id for w in await memory.weak_topics(meena.id)] == ["biology.cell_division"]

    [conversation] = await Conversation.find({"user_id": ravi.id}).to_list()
    assert conversation.title == "Imported history"
    messages = await Message.find({"conversation_id": conversation.id}).sort("created_at").to_list()
    assert [m.content for m in messages] == [t["content"] for t in RAVI["history"]]
    assert [m.client_message_id for m in messages] == [f"legacy:{n}" for n in range(4)]
    assert conversation.message_count == 4
    assert conversation.last_message_at == messages[-1].created_at
    assert messages[0].topics and messages[0].topics[0].id == "physics.rotational_motion"
    assert messages[1].parent_id == messages[0].id and not messages[1].topics
    assert await Conversation.find({"user_id": meena.id}).count() == 0
    audit = await AuditLog.find({"action": "legacy.import_profiles"}).to_list()
    assert len(audit) == 1 and audit[0].details["created"] == 2

    before = await collection_counts(db)
    again = await run_script(import_profiles, str(legacy_dir))
    assert again.changed == 0
    assert again.rows["profiles"].unchanged == 2
    assert again.rows["messages"].unchanged == 4
    assert again.rows["weak topics"].unchanged == summary.rows["weak topics"].created
    before["audit_log"] += 1  # one entry per run, counts only
    assert await collection_counts(db) == before


async def test_a_longer_history_only_appends(
    run_script: Run, tmp_path: Path, legacy_dir: Path
) -> None:
    longer = dict(RAVI, history=[*RAVI["history"], {"role": "user", "content": "Thanks!"}])
    (tmp_path / "ravi.json").write_text(json.dumps(longer))
    summary = await run_script(import_profiles, str(tmp_path))
    assert summary.ok
    assert summary.rows["profiles"].updated == 1
    assert summary.rows["messages"].created == 1 and summary.rows["messages"].unchanged == 4
    ravi = await User.find_one({"legacy_id": "user_123"})
    assert ravi is not None
    [conversation] = await Conversation.find({"user_id": ravi.id}).to_list()
    messages = await Message.find({"conversation_id": conversation.id}).sort("created_at").to_list()
    assert [m.content for m in messages][-1] == "Thanks!" and conversation.message_count == 5
    assert await LearnerTopic.find({"user_id": ravi.id, "counts.declared": {"$gt": 1}}).count() == 0


async def test_a_file_without_user_id_takes_its_file_name(
    run_script: Run, db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    """The old bot saved `profiles/<user_id>.json` without a `user_id` field (contract, Admin
    scripts); a numeric id is the same id as its text."""
    old_bot = {
        "name": "Kabir",
        "exam": "UPSC",
        "history": [{"role": "user", "content": "Explain the Preamble"}],
    }
    (tmp_path / "user_789.json").write_text(json.dumps(old_bot))
    (tmp_path / "user_790.json").write_text(json.dumps({"user_id": None, "name": "Null"}))
    (tmp_path / "tg.json").write_text(json.dumps({"user_id": 424242, "name": "Numeric"}))
    (tmp_path / "424242.json").write_text(json.dumps({"name": "Same id, by file name"}))
    summary = await run_script(import_profiles, str(tmp_path))
    assert summary.rows["profiles"].created == 3, summary.notes
    assert _invalid(summary) == {"tg.json": "duplicate user_id (also in 424242.json)"}
    kabir = await User.find_one({"legacy_id": "user_789"})
    assert kabir is not None and kabir.profile.display_name == "Kabir"
    assert kabir.profile.exam == "UPSC" and kabir.password_hash is None
    [conversation] = await Conversation.find({"user_id": kabir.id}).to_list()
    assert conversation.message_count == 1
    assert await User.find_one({"legacy_id": "user_790"}) is not None
    numeric = await User.find_one({"legacy_id": "424242"})
    assert numeric is not None and numeric.profile.display_name == "Same id, by file name"
    before = await collection_counts(db)
    (tmp_path / "tg.json").unlink()
    again = await run_script(import_profiles, str(tmp_path))
    assert again.ok and again.changed == 0 and again.rows["profiles"].unchanged == 3
    before["audit_log"] += 1
    assert await collection_counts(db) == before


async def test_an_imported_user_cannot_log_in(script_settings: Settings) -> None:
    ravi = await User.find_one({"legacy_id": "user_123"})
    assert ravi is not None
    state: Any = SimpleNamespace(
        login_throttle=LoginThrottle(
            storage=limits_storage(None), max_failures=5, lock_seconds=300
        ),
        passwords=Passwords(
            memory_kib=script_settings.argon2_memory_kib,
            time_cost=script_settings.argon2_time_cost,
            parallelism=script_settings.argon2_parallelism,
        ),
    )
    for password in ("", "user_123", "correct horse battery"):
        body = LoginRequest.model_construct(email=ravi.email, password=password)
        with pytest.raises(Unauthorized):
            await auth_service.login(state=state, body=body)


async def test_exit_codes(script_settings: Settings, legacy_dir: Path, tmp_path: Path) -> None:
    def main(*argv: str) -> int:
        return import_profiles.main(list(argv), settings=script_settings)

    # In a thread: main runs its own event loop, as `python -m` does.
    assert await asyncio.to_thread(main, str(legacy_dir), "--dry-run") == 1  # invalid files
    assert await asyncio.to_thread(main, str(tmp_path / "missing")) == 2
    assert await asyncio.to_thread(main, str(tmp_path)) == 2  # no *.json files
    (tmp_path / "meena.json").write_text(json.dumps(MEENA))
    assert await asyncio.to_thread(main, str(tmp_path), "--dry-run") == 0
